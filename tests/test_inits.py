"""Initial weights drawn from a distribution (``init: {normal: ...}``, ``{uniform: ...}``, for
the model or one layer): every column draws them natively, with its own generator, from the
distribution the spec names, biases at zero; lockstep draws them once (``torch_init``)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import SESSION

from common import columns
from common.replay.torch_init import torch_initial_weights
from spec import load_spec, resolve_spec
from spec.schema import Drawn, ModelSpec
from torch_impl.forward import initial_weights

UNIFORM = Drawn("uniform", a=-0.2, b=0.3)


def _slide_with_a_uniform_layer() -> ModelSpec:
    """The TensorFlow slide's model (every weight normal, std 1) with dense1 uniform over [-0.2, 0.3)."""
    model = load_spec(resolve_spec("mnist_cnn_tf_slide")).model
    layers = [
        dataclasses.replace(layer, params={**layer.params, "init": UNIFORM}) if layer.name == "dense1" else layer
        for layer in model.layers
    ]
    return dataclasses.replace(model, layers=tuple(layers))


def test_the_tensorflow_slides_spec_draws_every_weight_from_a_normal_of_std_1():
    model = load_spec(resolve_spec("mnist_cnn_tf_slide")).model
    drawn = {layer.name: model.drawn(layer) for layer in model.layers if layer.kind in ("linear", "conv2d")}
    assert drawn == dict.fromkeys(["conv1", "conv2", "dense1", "dense2"], Drawn("normal", std=1.0))
    assert model.layer("flatten").in_shape == (64, 7, 7)  # SAME convolutions and pools, as the slide


def test_lockstep_replays_torchs_uniform_draws_and_draws_the_normal_ones_in_numpy():
    """Every weight but the normal ones is torch's own draw, bit for bit (the normal draws come
    from a generator of their own in torch, so the global stream is untouched); the normal
    ones are numpy's, from the model's seed, in layer order; every drawn layer's bias is zero."""
    model = _slide_with_a_uniform_layer()
    ours, torchs = torch_initial_weights(model), initial_weights(model)
    assert np.array_equal(ours["dense1"]["weight"], torchs["dense1"]["weight"])
    assert ours["dense1"]["weight"].min() >= UNIFORM.a and ours["dense1"]["weight"].max() < UNIFORM.b
    rng = np.random.default_rng(model.seed)
    for name in ("conv1", "conv2", "dense2"):
        expected = rng.normal(0.0, 1.0, ours[name]["weight"].shape).astype(np.float32)
        assert np.array_equal(ours[name]["weight"], expected), name
        assert not np.array_equal(ours[name]["weight"], torchs[name]["weight"])  # torch's generator, not numpy's
    for name in ("conv1", "conv2", "dense1", "dense2"):
        assert not ours[name]["bias"].any() and not torchs[name]["bias"].any()


@pytest.mark.parametrize("column", SESSION)
def test_every_column_draws_from_the_spec_distribution_natively(column):
    """Each column's own build: normal kernels of standard deviation 1 (the sample's, within
    five of its standard errors), uniform ones inside [a, b) and spread over it, zero biases."""
    model = _slide_with_a_uniform_layer()
    layout = columns.column(column).native_layout
    built = columns.load(column, "build").build_model(model, layout)
    weights = columns.load(column, "weights").export_weights(built, model)
    for name in ("conv1", "conv2", "dense2"):
        kernel = weights[name]["weight"].ravel().astype(np.float64)
        error = 1 / math.sqrt(2 * kernel.size)  # the standard error of a normal sample's std
        assert abs(kernel.std() - 1.0) < 5 * error and abs(kernel.mean()) < 5 / math.sqrt(kernel.size), name
    uniform = weights["dense1"]["weight"]
    assert uniform.min() >= UNIFORM.a and uniform.max() < UNIFORM.b
    assert abs(uniform.mean() - (UNIFORM.a + UNIFORM.b) / 2) < 0.01 and uniform.max() - uniform.min() > 0.49
    for name in ("conv1", "conv2", "dense1", "dense2"):
        assert not weights[name]["bias"].any(), name
