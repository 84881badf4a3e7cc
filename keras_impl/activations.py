"""The spec language's activation functions as Keras computes them: values and gradients.

For a lecture figure that overlays every column's curves: each function is the Keras layer
a compiled model uses, made from ``calls.LAYERS`` with the spec's defaults (leaky ReLU
slope 0.01, PReLU initial slope 0.25). Its gradient comes from the backend's autodiff, not
from a formula, so that the figure shows what training back-propagates: Keras has no
gradient op of its own, so it is TensorFlow's ``tf.GradientTape`` (the TensorFlow family's
:func:`tf_impl.activations.layer_curves`), ``jax.grad``, or torch's ``backward``.
"""

from __future__ import annotations

from collections.abc import Callable

from keras_impl._keras import keras  # Keras on this process's backend (its family entered first)
import numpy as np

from common.calls import instantiate
from common.present.activations import Curves, curves
from keras_impl.build import NAMESPACE
from keras_impl.calls import LAYERS, Options
from spec.layers import ACTIVATIONS, default_layer


def activation_layers() -> dict[str, keras.layers.Layer]:
    """The activation layers, in the order of the figure's panels, with the spec's defaults."""
    options = Options("keras", "channels_last", "channels_last")
    return {kind: instantiate(LAYERS[kind](default_layer(kind), options), NAMESPACE) for kind in ACTIVATIONS}


def layer_curves(layers: dict[str, Callable], x: np.ndarray) -> Curves:
    """``{name: (x, f(x), f'(x))}`` for each of ``layers`` at the points ``x``, by the backend's autodiff."""
    if keras.backend.backend() == "tensorflow":
        from tf_impl.activations import layer_curves as tensorflow_curves

        return tensorflow_curves(layers, x)
    return curves(layers, x, _value_and_gradient)


def _value_and_gradient(layer: Callable, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """On JAX, ``jax.grad`` of the outputs' sum; on torch, ``backward`` through it."""
    if keras.backend.backend() == "jax":
        import jax

        gradient = jax.grad(lambda inputs: keras.ops.sum(layer(inputs)))(x)
        return keras.ops.convert_to_numpy(layer(x))[:, 0], np.asarray(gradient)[:, 0]
    import torch

    inputs = torch.tensor(x, requires_grad=True)
    outputs = layer(inputs)
    outputs.sum().backward()
    return outputs.detach().numpy()[:, 0], inputs.grad.numpy()[:, 0]


def activation_curves(x: np.ndarray) -> Curves:
    return layer_curves(activation_layers(), x)
