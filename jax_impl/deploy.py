"""Deployment in JAX: the trained model behind its preprocessing, run eagerly. JAX has no
exporter to a format another runtime reads without it (``jax2tf`` needs TensorFlow, which a
JAX run never loads; ``jax.export``'s StableHLO runs only in JAX), so the column exports no
format (``common.deploy.formats.COLUMN_FORMATS``) and ``run.py deploy`` refuses a jax run
with one line before anything here runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from common.deploy.formats import DeployInfo
from common.errors import DataError
from common.files.weights import Weights
from jax_impl.build import build_model
from jax_impl.weights import import_weights
from spec.schema import ModelSpec

NONE = "the jax column exports no deployment format"


def deployable(model: ModelSpec, layout: str, weights: Weights, normalization: dict | None) -> Callable:
    """The trained model behind its preprocessing, in eval mode: uint8 images in ``layout``
    in (/ 255, then the run's mean and std), the model's outputs out."""
    net = build_model(model, layout)
    import_weights(net, model, weights)
    net.eval()
    shape = (1, -1, 1, 1) if layout == "nchw" else (1, 1, 1, -1)
    mean, std = ((jnp.asarray(normalization[key], jnp.float32).reshape(shape) for key in ("mean", "std"))
                 if normalization is not None else (0.0, 1.0))
    return lambda images: net((jnp.asarray(images, jnp.float32) / 255 - mean) / std)


def predict_eager(deployed: Callable, images: np.ndarray) -> np.ndarray:
    """The deployable's outputs in JAX itself (eager mode)."""
    return np.asarray(deployed(images))


def export(deployed: Callable, fmt: str, path: Path, info: DeployInfo) -> None:
    raise DataError(f"--format {fmt}: {NONE}")


def load_exported(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    raise DataError(f"{path}: {NONE}")
