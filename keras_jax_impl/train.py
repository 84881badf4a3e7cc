"""The book's ``StepByStep`` on Keras' own loop, on JAX: the Keras column's trainer,
named for its column."""

from __future__ import annotations

from common import columns

columns.enter("keras-jax")  # KERAS_BACKEND=jax before Keras loads, or one line why this process cannot

from keras_impl import train as keras_train  # noqa: E402
from keras_impl.train import make_loss, infer_loss_kind, make_optimizer  # noqa: E402, I001

__all__ = ["make_loss", "infer_loss_kind", "make_optimizer", "StepByStep"]


class StepByStep(keras_train.StepByStep):
    """The Keras column's trainer on JAX."""

    column = "keras-jax"
    parameters_title = "keras-jax: model.summary()'s trainable weights"
