"""Every column's activation functions and their autodiff gradients, against each other
and against the formulas, for the lecture's activation figure."""

import numpy as np
import pytest

import keras_impl.activations as keras_act
import tf_impl.activations as tf_act
import torch_impl.activations as torch_act
from spec.layers import LAYER_KINDS

NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "prelu"]
EPS = float(np.finfo(np.float32).eps)  # 1.19e-7: one unit in the last place of float32 at 1.0
# Both frameworks compute in float32 and round each value within a few ulps; |f| <= 1 for
# sigmoid and tanh, so values agree within 4 ulps of 1.0. Their gradients, 1 - tanh^2 and
# s(1 - s), scale a value's rounding by at most 2 (|d(1 - y^2)/dy| = 2|y| <= 2), so 8 ulps.
# The ReLU family is x, 0 or slope * x: at most a rounding of the product apart, well within.
VALUE_TOL, GRADIENT_TOL = 4 * EPS, 8 * EPS

# Points from -6 to 6, without 0 itself: at the kink, a framework's gradient is a choice
# (test_gradients_at_zero_are_a_choice).
X = np.concatenate([np.linspace(-6, -0.01, 600), np.linspace(0.01, 6, 600)]).astype(np.float32)


@pytest.fixture(scope="module")
def curves():
    return {
        "torch": torch_act.activation_curves(X),
        "keras": keras_act.activation_curves(X),
        "tf": tf_act.activation_curves(X),
    }


def reference(x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """f and f' by formula, in float64."""
    x = x.astype(np.float64)
    s, t = 1 / (1 + np.exp(-x)), np.tanh(x)
    return {
        "sigmoid": (s, s * (1 - s)),
        "tanh": (t, 1 - t**2),
        "relu": (np.maximum(x, 0), (x > 0) * 1.0),
        "leaky_relu": (np.where(x > 0, x, 0.01 * x), np.where(x > 0, 1.0, 0.01)),
        "prelu": (np.where(x > 0, x, 0.25 * x), np.where(x > 0, 1.0, 0.25)),
    }


def test_same_functions_in_the_same_order_with_the_spec_defaults(curves):
    assert list(curves["torch"]) == list(curves["keras"]) == list(curves["tf"]) == NAMES
    assert LAYER_KINDS["leaky_relu"].params["slope"][1] == 0.01 and LAYER_KINDS["prelu"].params["init"][1] == 0.25
    for framework in curves.values():
        for x, y, dy in framework.values():
            assert x.dtype == y.dtype == dy.dtype == np.float32
            assert x.shape == y.shape == dy.shape == X.shape
            np.testing.assert_array_equal(x, X)


@pytest.mark.parametrize("other", ["keras", "tf"])
@pytest.mark.parametrize("name", NAMES)
def test_the_frameworks_agree(curves, name, other):
    _, torch_y, torch_dy = curves["torch"][name]
    _, other_y, other_dy = curves[other][name]
    np.testing.assert_allclose(torch_y, other_y, rtol=0, atol=VALUE_TOL)
    np.testing.assert_allclose(torch_dy, other_dy, rtol=0, atol=GRADIENT_TOL)


@pytest.mark.parametrize("framework", ["torch", "keras", "tf"])
@pytest.mark.parametrize("name", NAMES)
def test_each_framework_matches_the_formula(curves, framework, name):
    _, y, dy = curves[framework][name]
    want_y, want_dy = reference(X)[name]
    # the formula in float64 against float32 results: rounding of f32 plus its own few ulps
    np.testing.assert_allclose(y, want_y, rtol=4 * EPS, atol=4 * EPS)
    np.testing.assert_allclose(dy, want_dy, rtol=4 * EPS, atol=GRADIENT_TOL)


@pytest.mark.parametrize("framework", ["torch", "keras", "tf"])
def test_relu_family_gradients_are_their_slopes(curves, framework):
    below, above = X < 0, X > 0
    for name, slope in [("relu", 0.0), ("leaky_relu", np.float32(0.01)), ("prelu", np.float32(0.25))]:
        _, _, dy = curves[framework][name]
        assert set(dy[below].tolist()) == {float(slope)}, name
        assert set(dy[above].tolist()) == {1.0}, name


def test_gradients_at_zero_are_a_choice():
    """At x = 0, where ReLU-like functions have a kink, each framework picks a subgradient.
    They agree for relu (0) and leaky_relu (the slope), but not for prelu: torch takes the
    slope, as for leaky_relu (so does tf's ``tf.where(x > 0, x, alpha * x)``), while keras
    computes PReLU as relu(x) - alpha relu(-x) and gets 0 + 0. It changes nothing in
    practice (an input of exactly 0.0), but it shows in a figure whose x passes through 0."""
    zero = np.zeros(1, np.float32)
    torch_dy = {name: dy[0] for name, (_, _, dy) in torch_act.activation_curves(zero).items()}
    keras_dy = {name: dy[0] for name, (_, _, dy) in keras_act.activation_curves(zero).items()}
    assert torch_dy["relu"] == keras_dy["relu"] == 0.0
    assert torch_dy["leaky_relu"] == keras_dy["leaky_relu"] == np.float32(0.01)
    assert (torch_dy["prelu"], keras_dy["prelu"]) == (0.25, 0.0)
    tf_dy = {name: dy[0] for name, (_, _, dy) in tf_act.activation_curves(zero).items()}
    assert tf_dy == torch_dy
    assert torch_dy["sigmoid"] == keras_dy["sigmoid"] == 0.25 and torch_dy["tanh"] == keras_dy["tanh"] == 1.0
