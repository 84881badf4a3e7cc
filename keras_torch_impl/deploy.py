"""Deployment of Keras on PyTorch: the Keras column's deployable model, run eagerly, and no
format exported (``keras_impl/_backends.py``; ``run.py deploy`` refuses a ``keras-torch`` run)."""

from __future__ import annotations

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from keras_impl._backends import no_deployment  # noqa: E402
from keras_impl.deploy import deployable, predict_eager  # noqa: E402

__all__ = ["deployable", "predict_eager", "export", "load_exported"]

export, load_exported = no_deployment("keras-torch")
