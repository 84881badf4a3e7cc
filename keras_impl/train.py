"""The book's ``StepByStep`` trainer on Keras' own loop: ``compile``, ``fit`` and callbacks.

``torch_impl/train.py`` offers the same class with the same methods, in the same order,
as a hand-written loop: read the two side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from common.files.checkpoint import (
    HISTORY_KEYS,
    check_fit,
    group,
    in_order,
    numbered,
    read_checkpoint,
    write_checkpoint,
)
from common.present import plots
from common.present.tables import format_parameter_table
from common.runs.lr_range import learning_rates, smoothed
from common.runs.metrics import batch_counts, check_finite_losses
from keras_impl import data
from keras_impl.build import count_parameters, parameter_table
from keras_impl.semantics import BatchMeanLoss, NLLLoss, TorchAdam, TorchBCELoss, TorchProbsNLLLoss
from spec.errors import TwinspecError
from spec.schema import TrainSpec

EpochCallback = Callable[[int, float, float, float], None]  # epoch, loss, val_loss, val_acc


LOSSES: dict[str, Callable[[], keras.losses.Loss]] = {
    "bce": keras.losses.BinaryCrossentropy,
    "bce_logits": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
    "cross_entropy": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    "cross_entropy_probs": keras.losses.SparseCategoricalCrossentropy,
    "nll": NLLLoss,
}

ACCURACY: dict[str, Callable[[], keras.metrics.Metric]] = {
    "bce": lambda: keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.5),
    "bce_logits": lambda: keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
    "cross_entropy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    "cross_entropy_probs": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    "nll": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
}


def make_loss(loss: str, mode: str = "native") -> keras.losses.Loss:
    """The spec's loss; in lockstep, torch's losses on probabilities where Keras' differ."""
    if loss == "bce" and mode == "lockstep":
        return TorchBCELoss()
    if loss == "cross_entropy_probs" and mode == "lockstep":
        return TorchProbsNLLLoss()
    return LOSSES[loss]()


def infer_loss_kind(loss_fn: keras.losses.Loss) -> str:
    """The spec's name for a loss object: how the trainer turns outputs into classes."""
    if isinstance(loss_fn, TorchBCELoss):
        return "bce"
    if isinstance(loss_fn, TorchProbsNLLLoss):
        return "cross_entropy_probs"
    if isinstance(loss_fn, NLLLoss):
        return "nll"
    logits = getattr(loss_fn, "_fn_kwargs", {}).get("from_logits", False)
    if isinstance(loss_fn, keras.losses.BinaryCrossentropy):
        return "bce_logits" if logits else "bce"
    if isinstance(loss_fn, keras.losses.SparseCategoricalCrossentropy):
        return "cross_entropy" if logits else "cross_entropy_probs"
    known = "BinaryCrossentropy, SparseCategoricalCrossentropy, NLLLoss"
    raise TwinspecError(f"cannot tell what {type(loss_fn).__name__} expects: use one of {known}, or pass loss_kind")


def make_optimizer(model: keras.Model, train: TrainSpec, mode: str = "native") -> keras.optimizers.Optimizer:
    """The spec's optimizer; in lockstep, torch's Adam where Keras' differs."""
    p = train.optimizer_params
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=p["lr"], momentum=p["momentum"], nesterov=p["nesterov"])
    adam = TorchAdam if mode == "lockstep" else keras.optimizers.Adam
    beta_1, beta_2 = p["betas"]
    return adam(learning_rate=p["lr"], beta_1=beta_1, beta_2=beta_2, epsilon=p["eps"])


def _known(cardinality: int) -> int | None:
    """A dataset's number of batches, or None where TensorFlow does not know it (< 0)."""
    return cardinality if cardinality > 0 else None


class _EpochEnd(keras.callbacks.Callback):
    """Hands each epoch's figures to the trainer, which records, logs and reports them."""

    def __init__(self, trainer: StepByStep, on_epoch: EpochCallback | None) -> None:
        super().__init__()
        self.trainer = trainer
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.trainer._end_epoch(epoch + 1, logs or {}, self.on_epoch)


class StepByStep:
    """The book's trainer on Keras: ``set_seed`` at the start, then ``fit`` over the datasets."""

    def __init__(
        self,
        model: keras.Model,
        loss_fn: keras.losses.Loss,
        optimizer: keras.optimizers.Optimizer,
        loss_kind: str | None = None,
    ) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        # how outputs become classes (common.runs.metrics); the book's three arguments infer it
        self.loss_kind = loss_kind or infer_loss_kind(loss_fn)
        self.train_loader: tf.data.Dataset | None = None
        self.val_loader: tf.data.Dataset | None = None
        self.test_loader: tf.data.Dataset | None = None
        self.writer: Path | None = None  # the log directory; train() opens and closes its writers
        self._summaries: dict[str, tf.summary.SummaryWriter] = {}
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_accuracies: list[float] = []
        self.total_epochs = 0
        self.visualization: dict[str, np.ndarray] = {}  # hooked layers' outputs, (N, C, H, W) or (N, F)
        self.visualized_inputs: np.ndarray | None = None  # what produced them, (N, C, H, W)
        self.handles: dict[str, keras.KerasTensor] = {}
        self._featurizer: keras.Model | None = None
        self._compile()

    @classmethod
    def from_spec(cls, model: keras.Model, train: TrainSpec, mode: str = "native") -> StepByStep:
        return cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)

    def _compile(self, steps_per_execution: int = 1) -> None:
        metrics = [BatchMeanLoss(self.loss_fn), ACCURACY[self.loss_kind]()]
        self.model.compile(self.optimizer, self.loss_fn, metrics=metrics, steps_per_execution=steps_per_execution)

    # -- training ----------------------------------------------------------------------

    def set_loaders(
        self,
        train_loader: tf.data.Dataset,
        val_loader: tf.data.Dataset | None = None,
        test_loader: tf.data.Dataset | None = None,
    ) -> None:
        """``test_loader`` is kept for :meth:`evaluate` after training; ``train`` never reads it.
        Also compiles a whole epoch into one call of the train step (``steps_per_execution``)."""
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.test_loader = test_loader
        steps = int(train_loader.cardinality())
        self._compile(steps if steps > 0 else 1)

    def set_tensorboard(self, name: str, folder: str | Path = "runs") -> Path:
        """Log each epoch's losses and validation accuracy under ``folder/name_<time>``.

        The torch trainer's tags, as ``SummaryWriter.add_scalars`` lays them out (one run
        per curve: ``loss_training``, ``loss_validation``, ``accuracy_validation``), so
        one TensorBoard shows both frameworks side by side.
        """
        self.writer = Path(folder) / f"{name}_{time.strftime('%Y%m%d%H%M%S')}"
        return self.writer

    def set_seed(self, seed: int = 42) -> None:
        """Keras' one call for Python's, numpy's, TensorFlow's and its own generators, and
        the training dataset's generator, as the book's ``set_seed`` reseeds its sampler's."""
        keras.utils.set_random_seed(seed)
        if self.train_loader is not None:
            data.reseed(self.train_loader, seed)

    def _end_epoch(self, epoch: int, logs: dict, on_epoch: EpochCallback | None) -> None:
        self.total_epochs = epoch
        loss = float(logs["batch_mean_loss"])
        self.losses.append(loss)
        val_loss = val_acc = float("nan")
        if self.val_loader is not None:
            val_loss, val_acc = float(logs["val_batch_mean_loss"]), float(logs["val_accuracy"])
            self.val_losses.append(val_loss)
            self.val_accuracies.append(val_acc)
        check_finite_losses(epoch, loss, val_loss if self.val_loader is not None else None)
        if self.writer is not None:
            self._log_epoch(epoch, loss, val_loss, val_acc)
        if on_epoch is not None:
            on_epoch(epoch, loss, val_loss, val_acc)

    def _log_epoch(self, epoch: int, loss: float, val_loss: float, val_acc: float) -> None:
        scalars = [("loss_training", "loss", loss)]
        if self.val_loader is not None:
            scalars += [("loss_validation", "loss", val_loss), ("accuracy_validation", "accuracy", val_acc)]
        for run, tag, value in scalars:
            if run not in self._summaries:
                self._summaries[run] = tf.summary.create_file_writer(str(self.writer / run))
            with self._summaries[run].as_default():
                tf.summary.scalar(tag, value, step=epoch)
            self._summaries[run].flush()

    def train(self, n_epochs: int, seed: int | None = 42, on_epoch: EpochCallback | None = None) -> None:
        """Train ``n_epochs`` more epochs. Like the book, reseed first; ``seed=None`` draws on
        from where the generators stand (resuming from a checkpoint)."""
        if self.train_loader is None:
            raise TwinspecError("set_loaders() first: the trainer has no training loader")
        if seed is not None:
            self.set_seed(seed)
        left = data.planned_epochs_left(self.train_loader)
        if left is not None and n_epochs > left:
            raise TwinspecError(f"the batch plan has {left} of its epochs left, not {n_epochs}: make a longer plan")
        # KERAS: fit makes a dataset's iterator at every epoch (twice, without steps_per_epoch),
        # and making our pipeline's costs some 40 ms (tf.data rewrites and instantiates its
        # functions); the epoch itself may take less. Given steps_per_epoch and a dataset that
        # does not end, fit keeps one iterator for all its epochs: the pipeline repeated, each
        # repetition drawn when its first batch is asked for (as the book's sampler draws at
        # each epoch's start), about 5 ms. A dataset of unknown length is given as it is.
        steps = _known(int(self.train_loader.cardinality()))
        try:
            self.model.fit(
                self.train_loader.repeat() if steps else self.train_loader,
                validation_data=self.val_loader,
                initial_epoch=self.total_epochs,
                epochs=self.total_epochs + n_epochs,
                callbacks=[_EpochEnd(self, on_epoch)],
                shuffle=False,  # the training dataset samples by itself
                steps_per_epoch=steps,
                verbose=0,
            )
        finally:
            for summary in self._summaries.values():  # as torch's trainer closes its writer
                summary.close()
            self._summaries = {}

    def evaluate(self, loader: tf.data.Dataset) -> tuple[float, np.ndarray]:
        """The mean batch loss and per-class ``[correct, total]`` over ``loader``: Keras'
        ``evaluate``, run once (on the test split, after training), and the counts."""
        logs = self.model.evaluate(loader, return_dict=True, verbose=0)
        return float(logs["batch_mean_loss"]), self.loader_apply(loader, self.correct).sum(axis=0)

    # -- prediction and metrics ----------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._featurizer is None:
            return np.asarray(self.model(x, training=False))
        yhat, *features = self._featurizer(x, training=False)
        for name, output in zip(self.handles, features):
            self.visualization[name] = self._canonical(np.asarray(output), self._computes_channels_last())
        channels_last_input = self._computes_channels_last() and self.model.layers[0].name != "nchw_to_nhwc"
        self.visualized_inputs = self._canonical(np.asarray(x), channels_last_input)
        return np.asarray(yhat)

    def correct(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-class ``[correct, total]`` for one batch, like the book's ``correct``."""
        return batch_counts(self.predict(x), y, self.loss_kind)

    @staticmethod
    def loader_apply(loader: tf.data.Dataset, func: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """``func`` on every batch of ``loader``, stacked (sum over axis 0 to total counts)."""
        return np.stack([func(x, y) for x, y in loader.as_numpy_iterator()])

    def count_parameters(self) -> int:
        return count_parameters(self.model)

    def parameter_table(self) -> str:
        """Each trainable tensor's shape and ``numel``, layer by layer, and the total."""
        return format_parameter_table(parameter_table(self.model), "keras: model.summary()'s trainable weights")

    def _optimizer_variables(self) -> list:
        """The optimizer's variables, made now if it has not stepped yet (a checkpoint or a
        range test before any training)."""
        if not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)
        return self.optimizer.variables

    # -- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, filename: str | Path) -> None:
        """Everything training needs to resume as if it never stopped: the model's variables
        (dropout's seed states included), the optimizer's, the losses and the dataset's position."""
        history = dict(zip(HISTORY_KEYS, (self.total_epochs, self.losses, self.val_losses, self.val_accuracies)))
        arrays = numbered("model", map(np.asarray, self.model.variables))
        arrays |= numbered("optimizer", map(np.asarray, self._optimizer_variables()))
        pipeline = data.pipeline_state(self.train_loader) if self.train_loader is not None else {}
        arrays |= {f"pipeline/{key}": value for key, value in pipeline.items()}
        write_checkpoint(filename, history, arrays)

    def load_checkpoint(self, filename: str | Path) -> None:
        """Restore a checkpoint into this trainer; then ``train(n, seed=None)`` resumes.
        A checkpoint that does not fit is refused before anything changes."""
        history, arrays = read_checkpoint(filename)
        variables = {"model": self.model.variables, "optimizer": self._optimizer_variables()}
        pipeline = data.pipeline_state(self.train_loader) if self.train_loader is not None else None
        check_fit(filename, arrays, {key: [v.shape for v in owned] for key, owned in variables.items()}, pipeline)
        for key, owned in variables.items():
            for variable, value in zip(owned, in_order(arrays, key)):
                variable.assign(value)
        if pipeline is not None:
            data.restore_pipeline(self.train_loader, group(arrays, "pipeline"))
        self.total_epochs = history["epoch"]
        self.losses, self.val_losses, self.val_accuracies = (list(history[key]) for key in HISTORY_KEYS[1:])

    # -- figures -------------------------------------------------------------------------

    def plot_losses(self) -> Figure:
        return plots.losses_figure({"keras": (self.losses, self.val_losses)}, title="keras")

    def _layer(self, name: str) -> keras.layers.Layer:
        """A layer of the spec's, by name: not the permute or the padding that build inserts."""
        pairs = zip(self.model.layers, self.model.layers[1:])
        inserted = {"nchw_to_nhwc"} | {pad.name for pad, conv in pairs if pad.name == f"{conv.name}_pad"}
        layers = {layer.name: layer for layer in self.model.layers if layer.name not in inserted}
        if name not in layers:
            raise TwinspecError(f"the model has no layer '{name}' (layers: {', '.join(layers)})")
        return layers[name]

    def _computes_channels_last(self) -> bool:
        """The data format of the model's feature maps (after a ``nchw_to_nhwc`` permute, if any)."""
        formats = [layer.data_format for layer in self.model.layers if hasattr(layer, "data_format")]
        return not formats or formats[0] == "channels_last"

    @staticmethod
    def _canonical(maps: np.ndarray, channels_last: bool) -> np.ndarray:
        """Feature maps as ``(N, C, H, W)``, as torch has them."""
        return maps.transpose(0, 3, 1, 2) if maps.ndim == 4 and channels_last else maps

    def visualize_filters(self, layer: str) -> Figure:
        """A conv layer's kernels, turned from Keras' ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``."""
        found = self._layer(layer)
        if not isinstance(found, keras.layers.Conv2D):
            convs = [other.name for other in self.model.layers if isinstance(other, keras.layers.Conv2D)]
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return plots.filters_figure(np.asarray(found.kernel).transpose(3, 2, 0, 1), layer)

    def attach_hooks(self, layers: Sequence[str]) -> None:
        """Record the outputs of ``layers`` (``(N, C, H, W)`` or ``(N, F)``) at each prediction.
        Keras has no forward hooks: a model that also returns those outputs stands in."""
        outputs = {name: self._layer(name).output for name in layers}
        self.remove_hooks()
        self.handles = outputs
        self._featurizer = keras.Model(self.model.inputs[0], [self.model.outputs[0], *outputs.values()])

    def remove_hooks(self) -> None:
        self.handles = {}
        self._featurizer = None

    def visualize_outputs(
        self,
        layers: Sequence[str],
        n_images: int = 10,
        y: np.ndarray | None = None,
        classes: Sequence[str] | None = None,
    ) -> Figure:
        """The inputs and outputs recorded at the last hooked ``predict``, for its first
        ``n_images``; ``y`` labels the rows with their classes."""
        return plots.recorded_outputs_figure(self.visualization, self.visualized_inputs, layers, n_images, y, classes)

    # -- learning-rate range test --------------------------------------------------------

    def lr_range_test(
        self, end_lr: float, num_iter: int = 100, step_mode: str = "exp", alpha: float = 0.05
    ) -> tuple[dict[str, list[float]], Figure]:
        """The book's range test: raise the learning rate each step over the training
        dataset, record the smoothed loss, then put model, optimizer and generators back."""
        if self.train_loader is None:
            raise TwinspecError("set_loaders() first: the range test runs over the training dataset")
        saved = [np.asarray(v) for v in (*self.model.variables, *self._optimizer_variables())]
        pipeline = data.pipeline_state(self.train_loader)
        lrs = learning_rates(float(self.optimizer.learning_rate), end_lr, num_iter, step_mode)
        raw: list[float] = []
        try:
            while len(raw) < num_iter:
                for x, y in self.train_loader:
                    self.optimizer.learning_rate = lrs[len(raw)]
                    raw.append(float(self.model.train_on_batch(x, y, return_dict=True)["loss"]))
                    if len(raw) == num_iter:
                        break
        finally:
            for variable, value in zip((*self.model.variables, *self._optimizer_variables()), saved):
                variable.assign(value)
            data.restore_pipeline(self.train_loader, pipeline)
        tracking = {"lr": lrs.tolist(), "loss": smoothed(raw, alpha)}
        return tracking, plots.lr_range_figure(tracking["lr"], tracking["loss"], step_mode)
