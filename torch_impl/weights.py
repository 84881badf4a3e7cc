"""torch model <-> neutral weights. Torch's own layout is the canonical one: no conversion.

Parameters and buffers (batchnorm's running statistics) are read and written alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.errors import WriteError
from common.files.weights import Weights, check_weights, expected_shapes
from spec.schema import ModelSpec
from torch_impl.build import build_model

NATIVE_FILE = "model.pt"  # what a run folder holds besides the neutral weights.npz


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


def save_native_model(spec: ModelSpec, weights: Weights, path: Path) -> None:
    """The model as PyTorch users save it, ``torch.save(model.state_dict(), path)``, built
    channels-first as the listing writes it: ``model.load_state_dict(torch.load(path))``
    restores it into the ``nn.Sequential`` of ``run.py show`` (no twinspec needed)."""
    model = build_model(spec, "nchw")
    import_weights(model, spec, weights)
    with _writing(path):
        torch.save(model.state_dict(), path)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Around ``torch.save``: a write that fails is a ``WriteError`` naming ``path``. torch's
    zip writer reports a full disk as a ``RuntimeError`` ("unexpected pos", "file write
    failed"), without the system's reason."""
    try:
        yield
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None
    except RuntimeError:
        raise WriteError(path, "torch could not write it whole (is the disk full?)") from None
