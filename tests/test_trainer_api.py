"""The book's ``StepByStep`` API, mirrored: the same methods in every column, doing the same."""

from __future__ import annotations


import dataclasses
import inspect
import itertools
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

from common import columns
from common.data.datasets import load_dataset
from common.data.prep import normalize, split_dataset, to_layout
from common.errors import DataError
from common.replay.torch_init import torch_initial_weights
from common.runs.trainer import StepByStepBase
from jax_impl import train as jax_train
from keras_impl import train as keras_train
from spec import TwinspecError, load_spec, resolve_spec
from spec.layers import KERNELS
from tf_impl import train as tf_train
from torch_impl import train as torch_train
from common.runs import runner


RUNNERS = ("torch", "keras", "tf", "jax")  # the frameworks' own loops: Lightning's is torch's trainer (test_lightning)
OTHERS = [backend for backend in RUNNERS if backend != "torch"]
ZOO = Path(__file__).parent / "specs" / "lockstep_zoo.yaml"  # Adam and batchnorm: state beyond the weights
DROPOUT = Path(__file__).parent / "specs" / "dropout_maps.yaml"  # in lockstep: the plan's masks
THREE_SPLITS = Path(__file__).parent / "specs" / "auto_test_split.yaml"  # a test split too
CHANNELS_FIRST = Path(__file__).parent / "specs" / "channels_first.yaml"  # RMSprop's state, weight decay
CONV_FEATURES = Path(__file__).parent / "specs" / "conv_features.yaml"  # one_cycle, SGD's momentum cycled
TEST_SPECS = {"lockstep_zoo": ZOO, "dropout_maps": DROPOUT, "channels_first": CHANNELS_FIRST}
TEST_SPECS["conv_features"] = CONV_FEATURES
LAYOUTS = {"torch": "nchw", "keras": "nhwc", "tf": "nhwc", "jax": "nhwc"}
API = [
    "from_spec",
    "set_loaders",
    "set_tensorboard",
    "set_seed",
    "set_clip_grad_value",
    "set_clip_grad_norm",
    "remove_clip",
    "set_lr_scheduler",
    "train",
    "evaluate",
    "predict",
    "correct",
    "loader_apply",
    "count_parameters",
    "parameter_table",
    "save_checkpoint",
    "load_checkpoint",
    "plot_losses",
    "visualize_filters",
    "attach_hooks",
    "remove_hooks",
    "visualize_outputs",
    "visualize_feature_space",
    "lr_range_test",
]


def _public(cls: type) -> list[str]:
    """The public methods of ``cls`` and its bases, in the order the first class to define
    each defines it: the book's API is ``StepByStepBase``'s."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        names |= {
            name: None
            for name, value in vars(klass).items()
            if not name.startswith("_")
            and callable(value.__func__ if isinstance(value, (classmethod, staticmethod)) else value)
        }
    return [name for name in names if name != "infer_loss_kind"]


@pytest.mark.parametrize("other", [keras_train, tf_train, jax_train], ids=["keras", "tf", "jax"])
def test_every_trainer_offers_the_same_methods_in_the_same_order(other):
    """Every column's ``StepByStep`` is the common skeleton's, with its framework's parts."""
    assert issubclass(other.StepByStep, StepByStepBase) and issubclass(torch_train.StepByStep, StepByStepBase)
    assert not inspect.isabstract(other.StepByStep) and not inspect.isabstract(torch_train.StepByStep)
    torch_methods, other_methods = _public(torch_train.StepByStep), _public(other.StepByStep)
    assert torch_methods == other_methods == API
    for name in API:
        ours, theirs = (inspect.signature(getattr(cls.StepByStep, name)) for cls in (torch_train, other))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs.parameters.values()
        ], name


def _trainer(backend: str, name: str, mode: str = "native", epochs: int | None = None):
    spec = load_spec(TEST_SPECS.get(name) or resolve_spec(name)).with_overrides(epochs=epochs)
    return runner.make_trainer(backend, spec, LAYOUTS[backend], mode), spec


@pytest.mark.parametrize("backend", RUNNERS)
@pytest.mark.parametrize(
    "name, mode",
    [("cnn2", "native"), ("relu", "native"), ("relu", "lockstep"), ("dropout_maps", "lockstep")]
    + [("channels_first", "native"), ("conv_features", "native")],
    ids=[
        "dropout-shuffle-adam",
        "balanced-flips",
        "plan",
        "plan-dropout-plateau",
        "rmsprop-momentum-decay",
        "one-cycle",
    ],
)
def test_a_resumed_run_is_the_uninterrupted_run(tmp_path, backend, name, mode):
    """The checkpoint holds the scheduler too: ReduceLROnPlateau's count of bad epochs and
    best loss (dropout_maps), OneCycleLR's step and cycled momentum (conv_features)."""
    whole, spec = _trainer(backend, name, mode, epochs=4)
    whole.train(4, seed=spec.train.seed)

    first, _ = _trainer(backend, name, mode, epochs=4)
    first.train(2, seed=spec.train.seed)
    first.save_checkpoint(tmp_path / "checkpoint")
    saved = list(first.losses)
    first.train(2, seed=None)  # the same trainer goes on (before another draws from torch's global generator)
    resumed, _ = _trainer(backend, name, mode, epochs=4)  # a fresh process would build just this
    resumed.load_checkpoint(tmp_path / "checkpoint")
    assert resumed.total_epochs == 2 and resumed.losses == saved
    resumed.train(2, seed=None)

    for split in (resumed, first):
        assert split.losses == whole.losses and split.val_losses == whole.val_losses
        assert split.learning_rates == whole.learning_rates
    x = next(iter(whole.val_loader))[0]
    assert np.array_equal(resumed.predict(np.asarray(x)), whole.predict(np.asarray(x)))


@pytest.mark.parametrize("backend", ["torch", "tf", "jax"])  # the loops that are ours, step by step
def test_a_train_interrupted_inside_an_epoch_leaves_no_half_epoch(tmp_path, monkeypatch, backend):
    whole, spec = _trainer(backend, "relu", epochs=2)
    whole.train(2, seed=spec.train.seed)

    trainer, _ = _trainer(backend, "relu", epochs=2)
    trainer.set_seed(spec.train.seed)
    trainer.save_checkpoint(tmp_path / "start")
    step, steps = trainer._train_step, itertools.count()

    def interrupted(*batch):
        if next(steps) == 3:
            raise KeyboardInterrupt
        return step(*batch)

    monkeypatch.setattr(trainer, "_train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(2, seed=spec.train.seed)
    monkeypatch.setattr(trainer, "_train_step", step)
    trainer.load_checkpoint(tmp_path / "start")
    trainer.train(2, seed=None)  # from the first epoch's start, not from its fourth batch
    assert trainer.losses == whole.losses and trainer.val_losses == whole.val_losses


@pytest.mark.parametrize("mode", ["native", "lockstep"])
@pytest.mark.parametrize("backend", ["keras", "tf"])  # tf.data's
def test_no_dataset_leaves_the_garbage_collector_a_thread_to_wait_for(backend, mode):
    """tf.data's autotuning thread sleeps on a timer that doubles up to 60 s, and an
    iterator that the cyclic garbage collector frees waits for its next wake (DESIGN.md,
    "Hazards"): the test suite stood still for minutes, a minute at a time. Every dataset a
    tf-family column makes, and the repetition its trainer iterates, runs without it."""
    trainer = runner.make_trainer(backend, load_spec(THREE_SPLITS), "nhwc", mode)
    dataset = trainer.train_loader.dataset
    loaders = [dataset, dataset.repeat(), trainer.val_loader, trainer.test_loader]
    assert [loader.options().autotune.enabled for loader in loaders] == [False] * 4


@pytest.mark.parametrize("backend", RUNNERS)
def test_a_checkpoint_that_does_not_fit_is_refused_and_changes_nothing(tmp_path, backend):
    trainer, _ = _trainer(backend, "relu")
    before = [np.array(w) for w in _weights(trainer)]
    with pytest.raises(DataError, match="no checkpoint at"):
        trainer.load_checkpoint(tmp_path / "missing")
    (tmp_path / "junk").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="not a checkpoint"):
        trainer.load_checkpoint(tmp_path / "junk")
    other, _ = _trainer(backend, "cnn1")
    other.save_checkpoint(tmp_path / "cnn1")
    with pytest.raises(DataError, match="not a checkpoint"):
        trainer.load_checkpoint(tmp_path / "cnn1")
    lockstep, _ = _trainer(backend, "relu", "lockstep")
    lockstep.save_checkpoint(tmp_path / "lockstep")
    lockstep.train(1)
    lockstep.save_checkpoint(tmp_path / "lockstep")
    with pytest.raises(DataError, match="another kind of training loader"):
        trainer.load_checkpoint(tmp_path / "lockstep")
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, _weights(trainer)))
    assert trainer.total_epochs == 0 and trainer.losses == []


def _poisoned(state):
    """``state`` with its first floating-point array's first value NaN (copies, all the way)."""
    if isinstance(state, dict):
        items = list(state.items())
        for i, (key, value) in enumerate(items):
            poisoned = _poisoned(value)
            if poisoned is not None:
                return {**state, key: poisoned}
        return None
    if isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            poisoned = _poisoned(value)
            if poisoned is not None:
                return type(state)([*state[:i], poisoned, *state[i + 1 :]])
        return None
    if hasattr(state, "dtype") and hasattr(state, "shape") and np.issubdtype(np.asarray(state).dtype, np.floating):
        if hasattr(state, "clone"):  # a torch tensor
            copy = state.clone()
            copy.view(-1)[0] = float("nan")
            return copy
        copy = np.array(state, copy=True)
        copy.reshape(-1)[0] = np.nan
        return copy
    return None


HISTORIES = {  # what a tampered history holds, by what it breaks
    "loss a number": {"loss": 5},
    "epoch a word": {"epoch": "x"},
    "a loss not finite": {"loss": [float("nan")]},
    "losses nested": {"loss": [[1.0]]},
    "an epoch too many": {"epoch": 2},
    "no val_loss": {"val_loss": None},
}


@pytest.mark.parametrize("backend", RUNNERS)
def test_a_tampered_checkpoint_is_refused_and_the_trainer_trains_on_as_if_never_asked(tmp_path, backend):
    """A checkpoint of this very trainer, changed: its history, its weights (NaN), and for
    torch its dictionaries. Each is one DataError; the trainer's weights, optimizer, history
    and generators stay, so that it trains on exactly as an untouched one does."""
    source, _ = _trainer(backend, "relu")
    source.train(1)
    source.save_checkpoint(tmp_path / "good")
    history, state = source._read_checkpoint(tmp_path / "good")
    tampered = [({**history, **change}, state) for change in HISTORIES.values()]
    tampered.append((history, _poisoned(state)))
    if backend == "torch":
        tampered += [
            (history, {**state, "model_state_dict": list(state["model_state_dict"].values())}),
            (history, {**state, "optimizer_state_dict": {"state": {}}}),
            (history, {**state, "rng_state": state["rng_state"][:10]}),
        ]
    untouched, _ = _trainer(backend, "relu")  # first: torch's generator is the process's
    untouched.train(1, seed=7)
    untouched.train(1, seed=None)
    trainer, _ = _trainer(backend, "relu")
    trainer.train(1, seed=7)  # a history, moments and generators of its own to keep
    before = [np.array(w) for w in _weights(trainer)], list(trainer.losses), trainer.total_epochs
    for i, (bad_history, bad_state) in enumerate(tampered):
        path = tmp_path / f"bad{i}"
        trainer._write_checkpoint(path, bad_history, bad_state)
        with pytest.raises(DataError, match=str(path)):
            trainer.load_checkpoint(path)
        assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before[0], _weights(trainer))), i
        assert (trainer.losses, trainer.total_epochs) == before[1:], i
    trainer.train(1, seed=None)
    assert trainer.losses == untouched.losses


@pytest.mark.parametrize("backend", RUNNERS)
@pytest.mark.parametrize(  # zoo: Adam's moments and batchnorm's statistics; dropout_maps: the plan's masks;
    # channels_first: RMSprop's with momentum, its weight decay (Optax's chain, Keras' L2 class)
    "name, mode",
    [("channels_first", "native"), ("lockstep_zoo", "native"), ("dropout_maps", "lockstep")],
)
def test_the_range_test_leaves_no_trace(backend, name, mode):
    trainer, spec = _trainer(backend, name, mode, epochs=4)  # a plan of 4 epochs holds the 20 steps
    before = [np.array(w) for w in _weights(trainer)]
    tracking, figure = trainer.lr_range_test(end_lr=1.0, num_iter=20)
    assert isinstance(figure, Figure)
    assert len(tracking["lr"]) == len(tracking["loss"]) == 20
    cycled = spec.train.scheduler is not None and spec.train.scheduler.kind == "cyclic"  # channels_first
    start = spec.train.scheduler.params["base_lr"] if cycled else spec.train.optimizer_params["lr"]
    # from the rate the optimizer holds, as the book's test starts
    assert tracking["lr"][0] == pytest.approx(start)
    assert tracking["lr"][-1] == pytest.approx(start * (1 / start) ** 0.95)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, _weights(trainer)))
    trainer.train(2, seed=None)
    untouched, _ = _trainer(backend, name, mode, epochs=4)
    untouched.train(2, seed=None)
    assert trainer.losses == untouched.losses  # optimizer, generators and loader put back too


@pytest.mark.parametrize("backend", [*RUNNERS, "lightning"])
def test_a_clipped_step_moves_the_weights_by_the_clipped_gradient(backend):
    """relu in one batch, so one SGD step per epoch: the weights move by lr times the
    gradient, clipped to a 2-norm or to values of 1e-3, far below the gradient's. Each
    weight is stored in float32: its move is known to half its spacing there."""
    relu = load_spec(resolve_spec("relu"))
    spec = dataclasses.replace(relu, data=dataclasses.replace(relu.data, batch_size=300))
    step, layout = spec.train.optimizer_params["lr"] * 1e-3, LAYOUTS.get(backend, "nchw")
    moves, rounding = {}, {}
    for clip in ("value", "norm", None):
        trainer = runner.make_trainer(backend, spec, layout)
        if clip is not None:
            trainer.set_clip_grad_norm(1.0)  # replaced by the next call, as the book's are
            getattr(trainer, f"set_clip_grad_{clip}")(1e-3)
        before = np.concatenate([np.ravel(w) for w in _weights(trainer)])
        trainer.train(1, seed=spec.train.seed)
        after = np.concatenate([np.ravel(w) for w in _weights(trainer)])
        moves[clip] = after.astype(np.float64) - before
        rounding[clip] = np.maximum(np.abs(np.spacing(before)), np.abs(np.spacing(after))) / 2
    assert np.linalg.norm(moves[None]) > 20 * step  # the gradient is far longer
    assert abs(np.linalg.norm(moves["norm"]) - step) <= np.linalg.norm(rounding["norm"])
    assert np.all(np.abs(moves["value"]) <= step + rounding["value"])
    at_the_bound = np.abs(np.abs(moves["value"]) - step) <= rounding["value"]
    assert np.count_nonzero(at_the_bound) > len(at_the_bound) / 4


@pytest.mark.parametrize("backend", [*RUNNERS, "lightning"])
def test_a_frozen_layer_keeps_the_weights_set_by_hand_and_the_rest_trains(backend):
    """cnn1_edges' Sobel filters, frozen, under momentum and weight decay: what moves a
    weight whose gradient is zero. Every column counts only what trains."""
    spec = load_spec(resolve_spec("cnn1_edges")).with_overrides(epochs=1)
    sgd = {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.1}
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, optimizer_params=sgd))
    trainer = runner.make_trainer(backend, spec, LAYOUTS.get(backend, "nchw"))
    export = columns.load(backend, "weights").export_weights
    before = export(trainer.model, spec.model)
    trainer.train(1, seed=spec.train.seed)
    after = export(trainer.model, spec.model)
    sobel = np.array([[KERNELS["sobel_x"]], [KERNELS["sobel_y"]]], np.float32)
    assert np.array_equal(before["edges"]["weight"], sobel) and np.array_equal(after["edges"]["weight"], sobel)
    assert not np.array_equal(before["fc1"]["weight"], after["fc1"]["weight"])
    assert trainer.count_parameters() == 32 * 10 + 10 + 10 * 3 + 3  # the classifier's; not the 18 of the filters


@pytest.mark.parametrize("backend", RUNNERS)
def test_a_removed_clip_trains_as_no_clip(backend):
    trainer, spec = _trainer(backend, "channels_first")  # clip: {value: 5}
    assert trainer.clip is not None
    trainer.remove_clip()
    trainer.train(1, seed=spec.train.seed)
    unclipped = dataclasses.replace(spec, train=dataclasses.replace(spec.train, clip=None))
    plain = runner.make_trainer(backend, unclipped, LAYOUTS[backend])
    plain.train(1, seed=spec.train.seed)
    assert trainer.losses == plain.losses and trainer.val_losses == plain.val_losses
    with pytest.raises(TwinspecError, match="max_norm must be a positive number, got -1"):
        trainer.set_clip_grad_norm(-1)
    with pytest.raises(TwinspecError, match="clip_value must be a number, got nan"):
        trainer.set_clip_grad_value(float("nan"))


def _weights(trainer) -> list:
    """Every variable of the model, batchnorm's statistics included."""
    model = trainer.model
    if hasattr(model, "state_dict"):
        return [v.detach().numpy() for v in model.state_dict().values()]
    if hasattr(model, "get_weights"):
        return model.get_weights()
    if trainer.column == "jax":
        from flax import nnx

        return [value[...] for _, value in nnx.to_flat_state(nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat)))]
    return [v.numpy() for v in model.variables]  # a tf.Module


def test_the_range_test_draws_the_same_curve_in_every_framework_in_lockstep():
    # 20 steps: one epoch of relu's 15 batches, and into the next
    curves = {
        backend: _trainer(backend, "relu", "lockstep")[0].lr_range_test(end_lr=1.0, num_iter=20)[0]
        for backend in RUNNERS
    }
    for other in OTHERS:
        assert curves["torch"]["lr"] == pytest.approx(curves[other]["lr"], rel=1e-7)  # rates kept in float32
        np.testing.assert_allclose(curves["torch"]["loss"], curves[other]["loss"], rtol=1e-5)


def test_filters_and_feature_maps_look_the_same_in_every_framework():
    """From the same weights (lockstep's init), the same images in the same orientation."""
    spec = load_spec(resolve_spec("cnn2"))
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    x = normalize(split.x_val[:4], spec.data.mean, spec.data.std)
    init = torch_initial_weights(spec.model)
    trainers = {backend: runner.make_trainer(backend, spec, LAYOUTS[backend], init=init) for backend in RUNNERS}
    panels = {
        backend: [image.get_array() for ax in trainer.visualize_filters("conv2").axes for image in ax.get_images()]
        for backend, trainer in trainers.items()
    }
    assert len(panels["torch"]) == 5 * 5  # 5 filters x 5 input channels
    for other in OTHERS:
        assert len(panels[other]) == len(panels["torch"])
        for ours, theirs in zip(panels["torch"], panels[other]):
            np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    layers = ["conv1", "relu1", "maxp2", "fc2"]
    for backend, trainer in trainers.items():
        trainer.attach_hooks(layers)
        trainer.predict(to_layout(x, LAYOUTS[backend]))
        trainer.remove_hooks()
        assert isinstance(trainer.visualize_outputs(layers, n_images=2, y=split.y_val, classes=split.classes), Figure)
    for name, other in itertools.product(layers, OTHERS):
        ours, theirs = (trainers[backend].visualization[name] for backend in ("torch", other))
        assert ours.shape == theirs.shape == (4, *spec.model.layer(name).out_shape)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    for other in OTHERS:
        np.testing.assert_array_equal(trainers["torch"].visualized_inputs, trainers[other].visualized_inputs)
    for backend, trainer in trainers.items():  # the hooks are gone: another prediction records nothing
        recorded = trainer.visualization["conv1"]
        trainer.predict(to_layout(x[2:], LAYOUTS[backend]))
        assert trainer.visualization["conv1"] is recorded


def test_the_feature_space_is_the_same_in_every_framework():
    """relu's two narrow hidden layers from the same weights: the same points, before and
    after the activation, so the same picture, each axis signed alike."""
    spec = load_spec(resolve_spec("relu"))
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    x = normalize(split.x_val, spec.data.mean, spec.data.std)
    init = torch_initial_weights(spec.model)
    trainers = {backend: runner.make_trainer(backend, spec, LAYOUTS[backend], init=init) for backend in RUNNERS}
    drawn = {}
    for backend, trainer in trainers.items():
        figure = trainer.visualize_feature_space(
            ["hidden0", "activation0"], to_layout(x, LAYOUTS[backend]), split.y_val
        )
        assert [ax.get_title() for ax in figure.axes] == ["hidden0 (5 units)", "activation0 (5 units)"]
        drawn[backend] = [np.vstack([c.get_offsets() for c in ax.collections]) for ax in figure.axes]
        assert trainer.handles == {}  # the hooks it attached are gone
    assert np.ptp(drawn["torch"][0], axis=0).min() > 0.1  # a real spread, on both principal axes
    for other, panel in itertools.product(OTHERS, range(2)):
        np.testing.assert_allclose(drawn[other][panel], drawn["torch"][panel], atol=1e-5)
    with pytest.raises(TwinspecError, match="y has 3 labels for 60 points"):
        trainers["torch"].visualize_feature_space(["hidden0"], x, split.y_val[:3])
    with pytest.raises(TwinspecError, match="conv1: feature maps, not flat features"):
        runner.make_trainer("torch", load_spec(resolve_spec("cnn1")), "nchw").visualize_feature_space(
            ["conv1"], np.zeros((2, 1, 10, 10), np.float32), np.zeros(2, int)
        )


@pytest.mark.parametrize("backend", RUNNERS)
def test_figures_and_bad_layer_names(backend):
    trainer, _ = _trainer(backend, "cnn1", epochs=1)
    trainer.train(1)
    assert isinstance(trainer.plot_losses(), Figure)
    with pytest.raises(TwinspecError, match="not a conv2d layer .conv2d layers: conv1"):
        trainer.visualize_filters("fc1")
    with pytest.raises(TwinspecError, match="no layer 'nope'"):
        trainer.attach_hooks(["nope"])
    with pytest.raises(TwinspecError, match="attach_hooks"):
        trainer.visualize_outputs(["conv1"])


def _scalars(log_dir: Path) -> dict[tuple[str, str], list[float]]:
    """(run, tag) -> values, from the event files under ``log_dir`` (either framework's)."""
    found: dict[tuple[str, str], list[float]] = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = value.simple_value if value.HasField("simple_value") else tf.make_ndarray(value.tensor)
                found.setdefault((path.parent.name, value.tag), []).append(float(number))
    return found


def test_every_framework_logs_the_same_tensorboard_scalars(tmp_path):
    logged = {}
    for backend in RUNNERS:
        trainer, spec = _trainer(backend, "relu", "lockstep", epochs=3)
        log_dir = trainer.set_tensorboard(f"relu_{backend}", folder=tmp_path)
        assert log_dir.parent == tmp_path and log_dir.name.startswith(f"relu_{backend}_")
        trainer.train(3, seed=spec.train.seed)
        logged[backend] = _scalars(log_dir)
        assert logged[backend][("loss_training", "loss")] == pytest.approx(trainer.losses, rel=1e-6)
        assert logged[backend][("accuracy_validation", "accuracy")] == pytest.approx(trainer.val_accuracies)
    tags = {("loss_training", "loss"), ("loss_validation", "loss"), ("accuracy_validation", "accuracy")}
    assert all(set(scalars) == tags for scalars in logged.values())
    for key, other in itertools.product(tags, OTHERS):
        assert logged["torch"][key] == pytest.approx(logged[other][key], rel=1e-5)


@pytest.mark.parametrize("backend", ["torch", "keras"])  # torch.save's checkpoint, and the JSON of the others'
def test_a_checkpoint_whose_scheduler_does_not_fit_is_refused_and_changes_nothing(tmp_path, backend):
    scheduled, spec = _trainer(backend, "dropout_maps", epochs=1)
    scheduled.train(1, seed=spec.train.seed)
    scheduled.save_checkpoint(tmp_path / "scheduled")
    unscheduled = dataclasses.replace(spec, train=dataclasses.replace(spec.train, scheduler=None))
    plain = runner.make_trainer(backend, unscheduled, LAYOUTS[backend])
    with pytest.raises(DataError, match="saved with a scheduler; this trainer has no scheduler"):
        plain.load_checkpoint(tmp_path / "scheduled")
    assert plain.total_epochs == 0 and plain.learning_rates == []
    plain.save_checkpoint(tmp_path / "plain")
    fresh, _ = _trainer(backend, "dropout_maps", epochs=1)
    with pytest.raises(DataError, match="saved without a scheduler; this trainer has a ReduceLROnPlateau"):
        fresh.load_checkpoint(tmp_path / "plain")
    fresh.load_checkpoint(tmp_path / "scheduled")  # and one that fits is taken whole
    assert fresh.learning_rates == scheduled.learning_rates and fresh.total_epochs == 1
    state = dict(vars(fresh.scheduler)) if backend != "torch" else fresh.scheduler.state_dict()
    assert state["last_epoch"] == 1 and state["best"] == scheduled.val_losses[0]


@pytest.mark.parametrize("backend", ["torch", "jax"])  # torch's OneCycleLR, and the plain-Python one
def test_training_past_a_one_cycle_schedules_end_is_refused_before_it_starts(backend):
    trainer, spec = _trainer(backend, "conv_features", epochs=1)
    trainer.train(1, seed=spec.train.seed)
    steps = len(trainer.learning_rates)
    with pytest.raises(TwinspecError, match=f"the one-cycle schedule has 0 of its {steps} steps left: too few for 1"):
        trainer.train(1, seed=None)
    assert trainer.total_epochs == 1 and len(trainer.learning_rates) == steps
