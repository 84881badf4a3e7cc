"""The spec language's activation functions as torch computes them: values and gradients.

For a lecture figure that overlays both frameworks' curves: each function is the layer a
compiled model uses, made as ``build.LAYERS`` makes it, with the spec's defaults
(``spec.layers``: leaky ReLU slope 0.01, PReLU initial slope 0.25). Its gradient comes
from torch's autodiff (``torch.autograd``), not from a formula,
so that the figure shows what training back-propagates.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spec.layers import LAYER_KINDS

SLOPE = LAYER_KINDS["leaky_relu"].params["slope"][1]
INIT = LAYER_KINDS["prelu"].params["init"][1]


def activation_layers() -> dict[str, nn.Module]:
    """The activation layers, in the order of the figure's panels, with the spec's defaults."""
    return {
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(SLOPE),
        "prelu": nn.PReLU(init=INIT),  # one slope for all features, as build.LAYERS makes it
    }


def activation_curves(x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{name: (x, f(x), f'(x))}`` in float32, evaluated at the points ``x`` (1-D).

    ``x`` goes in as a batch of one-feature samples ``(N, 1)``. Each f(x_i) depends on x_i
    alone, so the gradient of the sum of the outputs is f'(x_i) at every point.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    curves = {}
    for name, layer in activation_layers().items():
        inputs = torch.tensor(x[:, np.newaxis], requires_grad=True)
        outputs = layer(inputs)
        (gradient,) = torch.autograd.grad(outputs.sum(), inputs)
        curves[name] = (x.copy(), outputs.detach().numpy()[:, 0], gradient.numpy()[:, 0])
    return curves
