"""torch model <-> neutral weights. Torch's own layout is the canonical one: no conversion.

Parameters and buffers (batchnorm's running statistics) are read and written alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from common.files.weights import Weights, check_weights, expected_shapes
from spec.schema import ModelSpec


def export_weights(model: nn.Module, spec: ModelSpec) -> Weights:
    return {
        name: {key: getattr(getattr(model, name), key).detach().numpy().copy() for key in params}
        for name, params in expected_shapes(spec).items()
    }


def import_weights(model: nn.Module, spec: ModelSpec, weights: Weights) -> None:
    check_weights(weights, spec, "weights")
    with torch.no_grad():
        for name, params in weights.items():
            for key, value in params.items():
                getattr(getattr(model, name), key).copy_(torch.as_tensor(np.asarray(value)))
