"""The spec language's activation functions as torch computes them: values and gradients.

For a lecture figure that overlays every column's curves: each function is the module a
compiled model uses, made from ``calls.LAYERS`` with the spec's defaults (leaky ReLU slope
0.01, PReLU initial slope 0.25). Its gradient comes from torch's autodiff
(``torch.autograd``), not from a formula, so that the figure shows what training
back-propagates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from common.calls import instantiate
from common.present.activations import Curves, curves
from spec.layers import ACTIVATIONS, default_layer
from torch_impl.build import NAMESPACE
from torch_impl.calls import LAYERS


def activation_layers() -> dict[str, nn.Module]:
    """The activation modules, in the order of the figure's panels, with the spec's defaults."""
    return {kind: instantiate(LAYERS[kind](default_layer(kind)), NAMESPACE) for kind in ACTIVATIONS}


def layer_curves(layers: dict[str, Callable], x: np.ndarray) -> Curves:
    """``{name: (x, f(x), f'(x))}`` for each of ``layers`` at the points ``x``, by ``torch.autograd``."""
    return curves(layers, x, _value_and_gradient)


def _value_and_gradient(layer: nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inputs = torch.tensor(x, requires_grad=True)
    outputs = layer(inputs)
    (gradient,) = torch.autograd.grad(outputs.sum(), inputs)
    return outputs.detach().numpy()[:, 0], gradient.numpy()[:, 0]


def activation_curves(x: np.ndarray) -> Curves:
    return layer_curves(activation_layers(), x)
