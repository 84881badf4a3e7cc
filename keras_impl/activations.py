"""The spec language's activation functions as Keras computes them: values and gradients.

For a lecture figure that overlays every column's curves: each function is the Keras layer
a compiled model uses, made from ``calls.LAYERS`` with the spec's defaults (leaky ReLU
slope 0.01, PReLU initial slope 0.25). Its gradient comes from TensorFlow's autodiff
(``tf.GradientTape``, the TensorFlow family's :func:`layer_curves`), not from a formula,
so that the figure shows what training back-propagates.
"""

from __future__ import annotations

import keras
import numpy as np

from common.calls import instantiate
from keras_impl.build import NAMESPACE
from keras_impl.calls import LAYERS, Options
from spec.layers import ACTIVATIONS, default_layer
from common.present.activations import Curves
from tf_impl.activations import layer_curves

__all__ = ["activation_layers", "layer_curves", "activation_curves"]


def activation_layers() -> dict[str, keras.layers.Layer]:
    """The activation layers, in the order of the figure's panels, with the spec's defaults."""
    options = Options("keras", "channels_last", "channels_last")
    return {kind: instantiate(LAYERS[kind](default_layer(kind), options), NAMESPACE) for kind in ACTIVATIONS}


def activation_curves(x: np.ndarray) -> Curves:
    return layer_curves(activation_layers(), x)
