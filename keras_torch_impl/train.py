"""The book's ``StepByStep`` on Keras' own loop, on PyTorch: the Keras column's trainer,
named for its column."""

from __future__ import annotations

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from keras_impl import train as keras_train  # noqa: E402
from keras_impl.train import make_loss, infer_loss_kind, make_optimizer  # noqa: E402, I001

__all__ = ["make_loss", "infer_loss_kind", "make_optimizer", "StepByStep"]


class StepByStep(keras_train.StepByStep):
    """The Keras column's trainer on PyTorch."""

    column = "keras-torch"
    parameters_title = "keras-torch: model.summary()'s trainable weights"
