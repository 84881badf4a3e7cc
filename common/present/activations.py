"""The activation figure's curves, the same way for every column: each function's values and
gradients at the same points, the gradients from the column's own autodiff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Curves = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # {name: (x, f(x), f'(x))}
# (layer, inputs (N, 1) float32) -> (f(inputs), the gradient of their sum), each (N,) float32
ValueAndGradient = Callable[[Any, np.ndarray], tuple[np.ndarray, np.ndarray]]


def curves(layers: dict[str, Any], x: np.ndarray, value_and_gradient: ValueAndGradient) -> Curves:
    """``{name: (x, f(x), f'(x))}`` in float32 for each of ``layers``, at the points ``x`` (1-D).

    ``x`` goes in as a batch of one-feature samples ``(N, 1)``. Each f(x_i) depends on x_i
    alone, so the gradient of the sum of the outputs is f'(x_i) at every point.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    return {name: (x.copy(), *value_and_gradient(layer, x[:, np.newaxis])) for name, layer in layers.items()}
