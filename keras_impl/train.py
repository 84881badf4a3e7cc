"""The book's ``StepByStep`` API on Keras' own loop: ``compile``, ``fit`` and a callback."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from common.metrics import batch_counts
from keras_impl.build import count_parameters
from spec.schema import TrainSpec

EpochCallback = Callable[[int, float, float, float], None]  # epoch, loss, val_loss, val_acc


class NLLLoss(keras.losses.Loss):
    """torch's ``NLLLoss``, which Keras lacks: minus the log-probability of the true class."""

    def __init__(self) -> None:
        super().__init__(name="nll")

    def call(self, y_true: tf.Tensor, log_probs: tf.Tensor) -> tf.Tensor:
        classes = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        return -tf.gather(log_probs, classes, axis=1, batch_dims=1)


LOSSES: dict[str, Callable[[], keras.losses.Loss]] = {
    "bce": keras.losses.BinaryCrossentropy,
    "bce_logits": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
    "cross_entropy": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    "nll": NLLLoss,
}

ACCURACY: dict[str, Callable[[], keras.metrics.Metric]] = {
    "bce": lambda: keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.5),
    "bce_logits": lambda: keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
    "cross_entropy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    "nll": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
}


def make_optimizer(model: keras.Model, train: TrainSpec) -> keras.optimizers.Optimizer:
    p = train.optimizer_params
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=p["lr"], momentum=p["momentum"], nesterov=p["nesterov"])
    beta_1, beta_2 = p["betas"]
    return keras.optimizers.Adam(learning_rate=p["lr"], beta_1=beta_1, beta_2=beta_2, epsilon=p["eps"])


class _EpochEnd(keras.callbacks.Callback):
    def __init__(self, on_epoch: EpochCallback) -> None:
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.on_epoch(epoch + 1, logs["loss"], logs["val_loss"], logs["val_accuracy"])


class Trainer:
    """Trains the Keras way: ``set_seed`` at the start, then ``fit`` over the datasets."""

    def __init__(self, model: keras.Model, loss_fn, optimizer: keras.optimizers.Optimizer, loss_kind: str) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.loss_kind = loss_kind
        self.train_loader: tf.data.Dataset | None = None
        self.val_loader: tf.data.Dataset | None = None
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_accuracies: list[float] = []
        self.total_epochs = 0
        model.compile(optimizer=optimizer, loss=loss_fn, metrics=[ACCURACY[loss_kind]()])

    @classmethod
    def from_spec(cls, model: keras.Model, train: TrainSpec) -> Trainer:
        return cls(model, LOSSES[train.loss](), make_optimizer(model, train), train.loss)

    def set_loaders(self, train_loader: tf.data.Dataset, val_loader: tf.data.Dataset) -> None:
        self.train_loader = train_loader
        self.val_loader = val_loader

    def set_seed(self, seed: int = 42) -> None:
        """Keras' one call for Python's, numpy's, TensorFlow's and its own generators.

        The data pipeline has its own generator, seeded when the loaders are made; unlike
        torch's sampler it is not reseeded here, so a second ``train`` call draws on.
        """
        keras.utils.set_random_seed(seed)

    def train(self, n_epochs: int, seed: int = 42, on_epoch: EpochCallback | None = None) -> None:
        self.set_seed(seed)
        history = self.model.fit(
            self.train_loader,
            validation_data=self.val_loader,
            initial_epoch=self.total_epochs,
            epochs=self.total_epochs + n_epochs,
            callbacks=[_EpochEnd(on_epoch)] if on_epoch is not None else [],
            shuffle=False,  # the training dataset samples by itself
            verbose=0,
        ).history
        self.total_epochs += n_epochs
        self.losses += history["loss"]
        self.val_losses += history["val_loss"]
        self.val_accuracies += history["val_accuracy"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False))

    def correct(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-class ``[correct, total]`` for one batch, like the book's ``correct``."""
        return batch_counts(self.predict(x), y, self.loss_kind)

    def count_parameters(self) -> int:
        return count_parameters(self.model)

    @staticmethod
    def loader_apply(loader: tf.data.Dataset, func: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """``func`` on every batch of ``loader``, stacked (sum over axis 0 to total counts)."""
        return np.stack([func(x, y) for x, y in loader.as_numpy_iterator()])
