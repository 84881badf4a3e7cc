"""Every column compiles every spec into native models with the same structure."""

import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import SESSION
import torch
from torch import nn

from common import columns
from common.files.weights import expected_shapes
from common.parity.checks import check_forward
from keras_impl import build as keras_build
from keras_impl import forward as keras_forward
from keras_impl import weights as keras_weights
from spec import list_specs, load_spec, resolve_spec
from spec.layers import LAYER_KINDS
from tf_impl import build as tf_build
from tf_impl import forward as tf_forward
from tf_impl import weights as tf_weights
from torch_impl import build as torch_build
from torch_impl import forward as torch_forward
from torch_impl import weights as torch_weights

CHAPTER4 = {"logistic": 25, "deepish": 143, "relu": 143}


@pytest.mark.parametrize("name, params", CHAPTER4.items())
def test_native_models_carry_the_spec_names_and_sizes(name, params):
    spec = load_spec(resolve_spec(name))
    torch_model = torch_build.build_model(spec.model, "nchw")
    keras_model = keras_build.build_model(spec.model, "nhwc")
    assert isinstance(torch_model, nn.Sequential) and isinstance(keras_model, keras.Sequential)
    names = [layer.name for layer in spec.model.layers]
    assert [child for child, _ in torch_model.named_children()] == names
    assert [layer.name for layer in keras_model.layers] == names
    assert isinstance(getattr(torch_model, names[1]), nn.Linear)
    assert isinstance(keras_model.get_layer(names[1]), keras.layers.Dense)
    assert torch_build.count_parameters(torch_model) == params
    assert keras_build.count_parameters(keras_model) == params
    x = np.zeros((7, 1, 5, 5), np.float32)
    assert tuple(torch_model(torch.as_tensor(x)).shape) == tuple(keras_model(x.transpose(0, 2, 3, 1)).shape) == (7, 1)


def test_torch_init_is_the_books():
    spec = load_spec(resolve_spec("deepish"))
    torch.manual_seed(17)
    book = [nn.Linear(25, 5, bias=False), nn.Linear(5, 3, bias=False), nn.Linear(3, 1, bias=False)]
    model = torch_build.build_model(spec.model, "nchw")
    for ours, theirs in zip([model.hidden0, model.hidden1, model.output], book):
        assert torch.equal(ours.weight, theirs.weight)


@pytest.mark.parametrize("init", ["torch", "keras"])
def test_keras_init_follows_the_spec(tmp_path, init):
    """torch init: kaiming-uniform(a=sqrt 5), bias uniform, both within 1/sqrt(fan_in);
    keras init: glorot-uniform, zero bias."""
    text = load_spec(resolve_spec("relu")).path.read_text()
    text = text.replace("- {linear: {name: hidden0, units: 5, bias: false}}", "- {linear: {name: hidden0, units: 400}}")
    text = text.replace("  seed: 17\n", f"  seed: 17\n  init: {init}\n")
    path = tmp_path / "wide.yaml"
    path.write_text(text)
    spec = load_spec(path)
    kernel, bias = (np.asarray(w) for w in keras_build.build_model(spec.model, "nhwc").get_layer("hidden0").weights)
    if init == "torch":
        bound = 1 / math.sqrt(25)
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.95 * bound
        assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.9 * bound
    else:
        glorot = math.sqrt(6 / (25 + 400))
        assert np.abs(kernel).max() <= glorot and np.abs(kernel).max() > 0.95 * glorot
        assert not bias.any()
    torch_layer = torch_build.build_model(spec.model, "nchw").hidden0
    assert np.abs(torch_layer.weight.detach().numpy()).max() <= (bound if init == "torch" else glorot)
    assert torch_layer.bias.detach().abs().max() > 0 if init == "torch" else not torch_layer.bias.detach().any()


def test_builds_are_seeded():
    spec = load_spec(resolve_spec("relu"))
    a, b = (keras_build.build_model(spec.model, "nhwc") for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    c, d = (torch_build.build_model(spec.model, "nchw") for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(c.parameters(), d.parameters()))


EVERY_LAYER = Path(__file__).parent / "specs" / "every_layer.yaml"
CONV_FEATURES = Path(__file__).parent / "specs" / "conv_features.yaml"  # rectangular, dilated, grouped, circular
CHANNELS_FIRST = Path(__file__).parent / "specs" / "channels_first.yaml"
FLATTEN_BATCHNORM = Path(__file__).parent / "specs" / "flatten_batchnorm.yaml"


def test_the_every_layer_spec_has_every_kind():
    assert {layer.kind for layer in load_spec(EVERY_LAYER).model.layers} == set(LAYER_KINDS)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # every_layer does, on purpose
@pytest.mark.parametrize("column", [name for name in SESSION if name != columns.REFERENCE])
@pytest.mark.parametrize(
    "spec",
    [*list_specs(), load_spec(EVERY_LAYER), load_spec(CHANNELS_FIRST), load_spec(CONV_FEATURES)],
    ids=lambda s: s.name,
)
def test_four_combinations_compute_the_same_function(spec, column):
    """``run.py parity --check forward``: one set of weights, torch and a column, nchw and nhwc."""
    parity = check_forward(spec, [columns.REFERENCE, column])
    assert len(parity.pairs) == 6
    assert parity.passed, parity.pairs


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize("column", [(keras_build, keras_weights), (tf_build, tf_weights)], ids=["keras", "tf"])
def test_weights_go_torch_other_torch_bit_for_bit(layout, column):
    build, weights_module = column
    spec = load_spec(EVERY_LAYER).model
    weights = torch_weights.export_weights(torch_build.build_model(spec, "nchw"), spec)
    other = build.build_model(spec, layout)
    weights_module.import_weights(other, spec, weights)
    torch_model = torch_build.build_model(dataclasses.replace(spec, seed=spec.seed + 1), "nhwc")  # other weights
    assert not torch.equal(torch_model.c1.weight, torch.as_tensor(weights["c1"]["weight"]))
    torch_weights.import_weights(torch_model, spec, weights_module.export_weights(other, spec))
    back = torch_weights.export_weights(torch_model, spec)
    assert all(np.array_equal(back[n][k], weights[n][k]) for n in weights for k in weights[n])


def test_keras_permutes_only_where_tensorflow_cannot_run_channels_first():
    """CPU Conv2D has no channels-first kernel; pooling, padding, batchnorm and flatten do."""
    with_conv = keras_build.build_model(load_spec(EVERY_LAYER).model, "nchw")
    without = keras_build.build_model(load_spec(CHANNELS_FIRST).model, "nchw")
    assert with_conv.layers[0].name == "nchw_to_nhwc"
    assert without.layers[0].name == "reflect" and without.get_layer("norm").axis in (1, [1])
    assert without.get_layer("maxpool").data_format == "channels_first"


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("path", [EVERY_LAYER, CHANNELS_FIRST, FLATTEN_BATCHNORM], ids=lambda p: p.stem)
def test_random_weights_give_the_same_function_everywhere(path):
    """Not just the initial weights: random ones, batchnorm statistics included, so that a
    reordering that leaves constant vectors unchanged cannot hide."""
    model = load_spec(path).model
    rng = np.random.default_rng(7)
    weights = {
        name: {
            key: (0.5 + rng.random(shape) if key == "running_var" else 0.3 * rng.standard_normal(shape)).astype(
                np.float32
            )
            for key, shape in params.items()
        }
        for name, params in expected_shapes(model).items()
    }
    x = rng.standard_normal((5, *model.layers[0].in_shape)).astype(np.float32)
    expected = torch_forward.forward(model, "nchw", weights, x)
    for backend in (torch_forward, keras_forward, tf_forward):
        for layout in ("nchw", "nhwc"):
            np.testing.assert_allclose(backend.forward(model, layout, weights, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_tf_compiles_a_spec_into_a_tf_module_of_named_variables(layout):
    """Each spec layer is a layer of statements of its name; its variables are ``<layer>/<variable>``,
    in TensorFlow's kernel layouts whatever the data format; only an nchw model with
    convolution or pooling transposes (TensorFlow's CPU kernels are channels-last)."""
    spec = load_spec(EVERY_LAYER).model
    model = tf_build.build_model(spec, layout)
    assert isinstance(model, tf.Module)
    assert [layer.name for layer in model.layers] == ["nchw_to_nhwc"] * (layout == "nchw") + [
        layer.name for layer in spec.layers
    ]
    names = {variable.name: tuple(variable.shape) for variable in model.variables}
    assert names["c1/kernel:0"] == (3, 3, 1, 4) and names["fc/kernel:0"] == (192, 6) and names["pr/alpha:0"] == (1,)
    assert {"bn1/gamma:0", "bn1/beta:0", "bn1/moving_mean:0", "bn1/moving_variance:0"} <= set(names)
    assert "c2/bias:0" not in names  # bias: false
    assert tf_build.count_parameters(model) == torch_build.count_parameters(torch_build.build_model(spec, "nchw"))
    assert [v.name for v in model.trainable_variables if "moving" in v.name] == []
    without = tf_build.build_model(load_spec(FLATTEN_BATCHNORM).model, layout)
    assert without.layers[0].name == "flatten" and without.data_format == layout.upper()


@pytest.mark.parametrize("init", ["torch", "keras"])
def test_tf_init_follows_the_spec(tmp_path, init):
    """torch: kernel and bias uniform within 1/sqrt(fan_in); keras: glorot-uniform, zero bias.
    Seeded: the same spec draws the same weights, another seed others."""
    text = load_spec(resolve_spec("cnn1")).path.read_text().replace("  seed: 13\n", f"  seed: 13\n  init: {init}\n")
    path = tmp_path / "cnn1.yaml"
    path.write_text(text)
    spec = load_spec(path).model
    model = tf_build.build_model(spec, "nhwc")
    for name, fan, fan_out in [("conv1", 9, 9), ("fc1", 16, 10)]:
        kernel, bias = (getattr(model, f"{name}_{key}").numpy() for key in ("kernel", "bias"))
        bound = 1 / math.sqrt(fan) if init == "torch" else math.sqrt(6 / (fan + fan_out))
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.5 * bound
        assert (np.abs(bias).max() <= bound and bias.any()) if init == "torch" else not bias.any()
    again = tf_build.build_model(spec, "nchw")
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.variables, again.variables))
    other = tf_build.build_model(dataclasses.replace(spec, seed=14), "nhwc")
    assert not np.array_equal(other.fc1_kernel.numpy(), model.fc1_kernel.numpy())
