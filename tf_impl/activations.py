"""The spec language's activation functions as this column computes them: values and gradients.

For a lecture figure that overlays every column's curves: each function is the layer's
statements a compiled model runs, from ``calls.LAYERS`` with the spec's defaults (leaky
ReLU slope 0.01, PReLU initial slope 0.25). Its gradient comes from TensorFlow's autodiff
(``tf.GradientTape``), not from a formula, so that the figure shows what training
back-propagates. The Keras column computes its layers' curves with :func:`layer_curves`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from common.present.activations import Curves, curves
from spec.layers import ACTIVATIONS, default_layer
from tf_impl._tensorflow import tf
from tf_impl.build import Model
from tf_impl.calls import LAYERS, Options


def activation_layers() -> dict[str, Model]:
    """The activation layers, in the order of the figure's panels, with the spec's defaults,
    each a model of that one layer (they draw nothing)."""
    options = Options("torch", "NHWC")
    return {kind: Model([LAYERS[kind](default_layer(kind), options)], 0, "NHWC", "NHWC") for kind in ACTIVATIONS}


def layer_curves(layers: dict[str, Callable], x: np.ndarray) -> Curves:
    """``{name: (x, f(x), f'(x))}`` for each of ``layers`` at the points ``x``, by ``tf.GradientTape``."""
    return curves(layers, x, _value_and_gradient)


def _value_and_gradient(layer: Callable, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inputs = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
        total = tf.reduce_sum(outputs)  # inside the tape, which records only what runs in it
    return outputs.numpy()[:, 0], tape.gradient(total, inputs).numpy()[:, 0]


def activation_curves(x: np.ndarray) -> Curves:
    return layer_curves(activation_layers(), x)
