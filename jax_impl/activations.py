"""The spec language's activation functions as JAX computes them: values and gradients.

For a lecture figure that overlays every column's curves: each function is what a built
model applies, made from ``calls.LAYERS`` with the spec's defaults (leaky ReLU slope 0.01,
PReLU initial slope 0.25): an ``nnx`` function, or a module (``nnx.PReLU``). Its gradient
comes from JAX's autodiff (``jax.grad``), not from a formula, so that the figure shows what
training back-propagates.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
from flax import nnx

from common.calls import execute
from common.present.activations import Curves, curves
from jax_impl.build import NAMESPACE
from jax_impl.calls import LAYERS, Layer, Options
from spec.layers import ACTIVATIONS, default_layer


class _Applied(nnx.Module):
    """One layer's statements as a function of ``x``, its modules (if any) made."""

    def __init__(self, layer: Layer) -> None:
        self.layer = nnx.static(layer)
        execute(layer.modules, {**NAMESPACE, "self": self, "rngs": nnx.Rngs(0)})

    def __call__(self, x: jax.Array) -> jax.Array:
        namespace = {**NAMESPACE, "self": self, "x": x}
        execute(self.layer.ops, namespace)
        return namespace["x"]


def activation_layers() -> dict[str, Callable]:
    """The activation functions, in the order of the figure's panels, with the spec's defaults."""
    options = Options("torch")
    return {kind: _Applied(LAYERS[kind](default_layer(kind), options)) for kind in ACTIVATIONS}


def layer_curves(layers: dict[str, Callable], x: np.ndarray) -> Curves:
    """``{name: (x, f(x), f'(x))}`` for each of ``layers`` at the points ``x``, by ``jax.grad``."""
    return curves(layers, x, _value_and_gradient)


def _value_and_gradient(layer: Callable, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gradient = jax.grad(lambda inputs: layer(inputs).sum())(x)
    return np.asarray(layer(x))[:, 0], np.asarray(gradient)[:, 0]


def activation_curves(x: np.ndarray) -> Curves:
    return layer_curves(activation_layers(), x)
