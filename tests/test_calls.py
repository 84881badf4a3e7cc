"""One description per column of each layer kind, loss and optimizer: ``calls.py``.

``build`` instantiates the calls and ``listing`` prints them, so the model a listing's text
builds is, by construction, the model its column trains. These tests hold that for every
spec and column: the listing's model, loss and optimizer sections are run, and what they
make is compared with what ``build_model``, ``make_loss`` and ``make_optimizer`` make.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SESSION

from common import columns
from common.calls import Assign, Call, Listed, Name, Source, call, execute, instantiate, names, substitute
from common.present.source import literal, render, render_statement
from spec import list_specs, load_spec
from spec.layers import LAYER_KINDS
from spec.load import CLIPS, OPTIMIZERS
from spec.schema import DRAWN, LOSSES

TEST_SPECS = sorted((Path(__file__).parent / "specs").glob("*.yaml"))
ALL_SPECS = [*list_specs(), *(load_spec(path) for path in TEST_SPECS)]
# A model, loss and optimizer are built from their calls alone: the specs that use every layer
# kind, activation, loss, optimizer and initialisation any spec uses check every call (the
# test below holds that they do), and each other spec would check the same calls again.
COVERING = [
    *("every_layer", "lockstep_zoo", "conv_features", "channels_first", "flatten_batchnorm"),
    *("mnist_cnn_slides", "cnn1", "lenet_lazy", "cnn1_edges", "mnist_cnn_tf_slide"),
]
SPECS = [spec for spec in ALL_SPECS if spec.name in COVERING]


def test_the_specs_built_here_use_everything_any_spec_uses():
    def used(specs):
        layers = {(layer.kind, layer.activation) for spec in specs for layer in spec.model.layers}
        return layers, {(spec.train.loss, spec.train.optimizer, spec.model.init) for spec in specs}

    (every_layer, every_training), (covered_layers, covered_training) = used(ALL_SPECS), used(SPECS)
    assert covered_layers == every_layer and {kind for kind, _ in covered_layers} == set(LAYER_KINDS)
    assert {part for parts in covered_training for part in parts} == {
        part for parts in every_training for part in parts
    }
    # and every optimizer of the spec language is some spec's, so built, listed and run
    assert {optimizer for _, optimizer, _ in covered_training} == set(OPTIMIZERS)
    assert {spec.train.clip.by for spec in SPECS if spec.train.clip} == set(CLIPS)  # and every clipping
    drawn = {spec.model.drawn(layer) for spec in SPECS for layer in spec.model.layers} - {None}
    assert {init.kind for init in drawn} == set(DRAWN)  # and weights drawn from each distribution
    set_or_frozen = [layer for spec in SPECS for layer in spec.model.layers if layer.params.get("weights")]
    assert set_or_frozen and not all(layer.trainable for layer in set_or_frozen)  # and filters set by hand, frozen


@pytest.mark.parametrize("name", columns.names())
def test_every_column_describes_every_layer_kind_loss_optimizer_and_clipping(name):
    calls = columns.load(name, "calls")
    assert set(calls.LAYERS) == set(LAYER_KINDS)
    assert set(calls.LOSSES) == set(LOSSES)
    assert set(calls.OPTIMIZERS) == set(OPTIMIZERS)
    assert set(calls.CLIPS) == set(CLIPS)


def test_a_call_renders_as_source_and_instantiates_as_that_source_runs():
    made = call("layers.Dense", 3, activation="relu", name="fc", spread=call("extra", fan_in=9))
    assert literal(made) == 'layers.Dense(3, activation="relu", name="fc", **extra(fan_in=9))'
    namespace = {"layers": type("layers", (), {"Dense": staticmethod(lambda *a, **k: (a, k))}), "extra": dict}
    assert instantiate(made, namespace) == ((3,), {"activation": "relu", "name": "fc", "fan_in": 9})
    stack = call("keras.Sequential", Listed([call("keras.Input", shape=(2,)), Name("layer")]))
    assert render("model = ", stack).splitlines() == [
        "model = keras.Sequential(",
        "    [",
        "        keras.Input(shape=(2,)),",
        "        layer,",
        "    ]",
        ")",
    ]
    assert names(stack) == ["keras", "layer"]


def test_statements_run_as_they_read():
    statements = [
        Assign("bound", Source("1 / 4", 0.25), "a comment"),
        Assign("self.kernel", call("scale", Name("bound"), Source("-bound", -0.25))),
        Assign("x", call("add", Name("x"), 1), when="training"),
    ]
    owner = type("Owner", (), {})()
    namespace = {"self": owner, "x": 1, "training": False, "scale": lambda a, b: a * b, "add": lambda a, b: a + b}
    execute(statements, namespace)
    assert owner.kernel == -0.0625 and namespace["x"] == 1  # not training: the last statement did not run
    assert render_statement(statements[0]) == "bound = 1 / 4  # a comment"
    assert render_statement(statements[2], 4) == "    if training:\n        x = add(x, 1)"


def test_substitution_swaps_calls_and_names_anywhere_in_a_description():
    made = [call("keras.Sequential", Listed([call("layers.Dropout", rate=0.5)])), Name("bce")]
    table = {"layers.Dropout": lambda c: Call("Planned", c.args, c.kwargs), "bce": lambda n: Name("torch_bce")}
    swapped = substitute(made, table)
    assert literal(swapped[0]).replace("\n", "") == "keras.Sequential([Planned(rate=0.5)])"
    assert swapped[1] == "torch_bce" and isinstance(swapped[0].args[0], Listed)


def _listing_namespace(name: str, spec) -> dict:
    """Run a listing's imports, model, loss and optimizer sections, as a student's script does."""
    listing = columns.load(name, "listing")
    namespace: dict = {}
    source = "\n\n".join([listing.imports(spec), *listing.model(spec), *listing.loss_and_optimizer(spec)])
    exec(compile(source, f"<{name} listing of {spec.name}>", "exec"), namespace)  # noqa: S102  (our own listing)
    return namespace


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
@pytest.mark.parametrize("name", SESSION)
def test_the_listing_builds_the_model_its_column_builds(name, spec):
    """The same modules, classes, arguments and initial weights; the same loss and optimizer."""
    listed = _listing_namespace(name, spec)
    build, train = columns.load(name, "build"), columns.load(name, "train")
    layout = columns.column(name).native_layout
    built = build.build_model(spec.model, layout)
    family = columns.column(name).family
    model = listed["model"].model if name == "lightning" else listed["model"]
    if family == "torch":
        assert str(model) == str(built)
        for (key, ours), theirs in zip(built.state_dict().items(), model.state_dict().values(), strict=True):
            assert torch.equal(ours, theirs), key
        loss_fn = listed["model"].loss_fn if name == "lightning" else listed["loss_fn"]
        optimizer = listed.get("optimizer")
        if name == "lightning":  # a scheduler is made over the loop's epochs and an epoch's batches
            listed.update(n_epochs=spec.train.epochs, train_loader=range(4))
            configured = listed["model"].configure_optimizers()
            optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    elif name == "keras":
        assert [layer.get_config() for layer in model.layers] == [layer.get_config() for layer in built.layers]
        for ours, theirs in zip(built.weights, model.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
        loss_fn, optimizer = model.loss, model.optimizer
    elif family == "jax":
        from flax import nnx

        ours, theirs = (nnx.to_flat_state(nnx.state(net, nnx.Any(nnx.Param, nnx.BatchStat))) for net in (built, model))
        assert [key for key, _ in ours] == [key for key, _ in theirs]
        for (key, value), (_, other) in zip(ours, theirs):
            np.testing.assert_array_equal(np.asarray(value[...]), np.asarray(other[...]), err_msg=str(key))
        x = np.random.default_rng(0).random((3, *_input(spec, layout)), dtype=np.float32)
        built.eval(), model.eval()
        np.testing.assert_array_equal(np.asarray(built(x)), np.asarray(model(x)))
        loss_fn, optimizer = listed["loss_fn"], listed["optimizer"]
    else:
        ours = {v.name: v.numpy() for v in built.variables}
        theirs = {v.name: v.numpy() for v in model.variables}
        assert set(ours) == set(theirs)
        for key, value in ours.items():
            np.testing.assert_array_equal(value, theirs[key], err_msg=key)
        x = np.random.default_rng(0).random((3, *_input(spec, layout)), dtype=np.float32)
        np.testing.assert_array_equal(built(x).numpy(), model(x).numpy())
        loss_fn, optimizer = listed["loss_fn"], listed["optimizer"]
    _same_loss_and_optimizer(name, train, built, spec, loss_fn, optimizer)


def _input(spec, layout: str) -> tuple[int, ...]:
    channels, height, width = spec.model.layers[0].in_shape
    return (channels, height, width) if layout == "nchw" else (height, width, channels)


def _same_loss_and_optimizer(name, train, built, spec, loss_fn, optimizer) -> None:
    ours_loss, ours_optimizer = train.make_loss(spec.train.loss), train.make_optimizer(built, spec.train)
    assert type(loss_fn).__name__ == type(ours_loss).__name__ or loss_fn.__name__ == ours_loss.__name__
    assert type(optimizer).__name__ == type(ours_optimizer).__name__
    if columns.column(name).family == "torch":
        assert optimizer.defaults == ours_optimizer.defaults
    elif name == "keras":
        strip = lambda config: {k: v for k, v in config.items() if k != "name"}  # noqa: E731
        assert strip(optimizer.get_config()) == strip(ours_optimizer.get_config())
        assert loss_fn.get_config() == ours_loss.get_config()
    elif columns.column(name).family == "jax":
        from flax import nnx

        mine, listed = (nnx.to_flat_state(nnx.state(made.opt_state)) for made in (ours_optimizer, optimizer))
        assert [(key, np.asarray(value[...]).tolist()) for key, value in mine if "hyperparams" in key] == [
            (key, np.asarray(value[...]).tolist()) for key, value in listed if "hyperparams" in key
        ]
        assert [(key, value[...].shape) for key, value in mine] == [(key, value[...].shape) for key, value in listed]
    else:
        assert float(optimizer.learning_rate.numpy()) == float(ours_optimizer.learning_rate.numpy())
        assert len(optimizer.variables) == len(ours_optimizer.variables)
