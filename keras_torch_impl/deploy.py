"""Deployment of Keras on PyTorch: the Keras column's deployable model (uint8 pixels in, its
preprocessing inside), run eagerly. Keras' exporters on this backend convert through
converters a ``keras-torch`` process does not load, so the column exports no format
(``common.deploy.formats.COLUMN_FORMATS``): train the ``keras`` column to deploy, and
``run.py deploy`` refuses a ``keras-torch`` run with one line before anything here runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from common.deploy.formats import DeployInfo  # noqa: E402
from common.errors import DataError  # noqa: E402
from keras_impl.deploy import deployable, predict_eager  # noqa: E402

__all__ = ["deployable", "predict_eager", "export", "load_exported"]

NONE = "the keras-torch column exports no deployment format (the keras column does, on TensorFlow)"


def export(deployed: Callable, fmt: str, path: Path, info: DeployInfo) -> None:
    raise DataError(f"--format {fmt}: {NONE}")


def load_exported(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    raise DataError(f"{path}: {NONE}")
