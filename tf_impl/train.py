"""The book's ``StepByStep`` trainer in TensorFlow without Keras: a ``tf.GradientTape`` step
compiled with ``tf.function``, losses and optimizers written out in ``tf`` ops.

``keras_impl/train.py`` offers the same class with the same methods, in the same order, on
Keras' ``compile``/``fit``: read the two side by side to see what ``fit`` does for you. The
loop itself is ``torch_impl/train.py``'s, batch by batch.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from common.errors import DataError
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
from spec.errors import TwinspecError
from spec.schema import TrainSpec
from tf_impl import data
from tf_impl._tensorflow import tf
from tf_impl.build import Conv2D, Model, count_parameters, parameter_table
from tf_impl.semantics import (
    bce,
    bce_logits,
    cross_entropy,
    cross_entropy_probs,
    nll_loss,
    torch_bce_loss,
    torch_probs_nll_loss,
)

EpochCallback = Callable[[int, float, float, float], None]  # epoch, loss, val_loss, val_acc
Loss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (targets, outputs) -> the batch's mean loss


LOSSES: dict[str, Loss] = {
    "bce": bce,
    "bce_logits": bce_logits,
    "cross_entropy": cross_entropy,
    "cross_entropy_probs": cross_entropy_probs,
    "nll": nll_loss,
}
LOCKSTEP_LOSSES: dict[str, Loss] = {"bce": torch_bce_loss, "cross_entropy_probs": torch_probs_nll_loss}


def make_loss(loss: str, mode: str = "native") -> Loss:
    """The spec's loss; in lockstep, torch's losses on probabilities where TensorFlow's differ."""
    if mode == "lockstep" and loss in LOCKSTEP_LOSSES:
        return LOCKSTEP_LOSSES[loss]
    return LOSSES[loss]


def infer_loss_kind(loss_fn: Loss) -> str:
    """The spec's name for a loss function: how the trainer turns outputs into classes."""
    for losses in (LOSSES, LOCKSTEP_LOSSES):
        for kind, function in losses.items():
            if loss_fn is function:
                return kind
    known = ", ".join(function.__name__ for function in (*LOSSES.values(), *LOCKSTEP_LOSSES.values()))
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    raise TwinspecError(f"cannot tell what {name} expects: use one of {known}, or pass loss_kind")


class SGD:
    """Stochastic gradient descent as torch writes it, in ``assign`` ops: with momentum the
    velocity is ``v = momentum * v + g`` and the step ``lr * v``; nesterov steps by
    ``lr * (g + momentum * v)``."""

    def __init__(
        self,
        params: list[tf.Variable],
        learning_rate: float,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        self.params = list(params)
        self.learning_rate = tf.Variable(learning_rate, trainable=False)  # changes, no retrace
        self.momentum, self.nesterov = momentum, nesterov
        zeros = [tf.zeros_like(p) for p in self.params] if momentum else []  # only with momentum
        self.velocities = [tf.Variable(value, trainable=False) for value in zeros]
        self.variables = [self.learning_rate, *self.velocities]  # the optimizer's state

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        for i, (param, gradient) in enumerate(zip(self.params, gradients)):
            if self.momentum:
                velocity = self.velocities[i]
                velocity.assign(self.momentum * velocity + gradient)
                gradient = gradient + self.momentum * velocity if self.nesterov else velocity
            param.assign_sub(self.learning_rate * gradient)


class Adam:
    """Adam as Kingma and Ba's Algorithm 1 writes it, and torch computes it, in ``assign``
    ops: ``eps`` is added to the bias-corrected ``sqrt(v)``. (TensorFlow's own kernel,
    ``ApplyAdam``, adds it to the raw one and folds the corrections into the step size.)"""

    def __init__(
        self,
        params: list[tf.Variable],
        learning_rate: float,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.learning_rate = tf.Variable(learning_rate, trainable=False)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        # each gradient's moving first moment (its mean) and second (its uncentred variance)
        self.m = [tf.Variable(tf.zeros_like(p), trainable=False) for p in self.params]
        self.v = [tf.Variable(tf.zeros_like(p), trainable=False) for p in self.params]
        self.variables = [self.learning_rate, self.iterations, *self.m, *self.v]

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        correction_1, correction_2 = 1 - self.beta_1**t, 1 - self.beta_2**t
        for param, gradient, m, v in zip(self.params, gradients, self.m, self.v):
            m.assign(m + (gradient - m) * (1 - self.beta_1))  # torch's lerp_(grad, 1 - beta1)
            v.assign(v * self.beta_2 + gradient * gradient * (1 - self.beta_2))
            denominator = tf.sqrt(v) / tf.sqrt(correction_2) + self.epsilon
            param.assign_sub(self.learning_rate / correction_1 * (m / denominator))


Optimizer = SGD | Adam


def make_optimizer(model: Model, train: TrainSpec, mode: str = "native") -> Optimizer:
    """The spec's optimizer, over the model's trainable variables. Written as torch writes
    it, there is nothing for ``mode`` to change."""
    p = train.optimizer_params
    if train.optimizer == "sgd":
        return SGD(model.trainable_variables, p["lr"], p["momentum"], p["nesterov"])
    beta_1, beta_2 = p["betas"]
    return Adam(model.trainable_variables, p["lr"], beta_1, beta_2, p["eps"])


class StepByStep:
    """The book's trainer in TensorFlow: ``set_seed`` at the start, a compiled step per batch."""

    def __init__(self, model: Model, loss_fn: Loss, optimizer: Optimizer, loss_kind: str | None = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        # how outputs become classes (common.runs.metrics); the book's three arguments infer it
        self.loss_kind = loss_kind or infer_loss_kind(loss_fn)
        self.train_loader: tf.data.Dataset | None = None
        self.val_loader: tf.data.Dataset | None = None
        self.test_loader: tf.data.Dataset | None = None
        self._batches: Iterator | None = None  # over the training dataset repeated: see _epochs
        self.writer: Path | None = None  # the log directory; train() opens and closes its writers
        self._summaries: dict[str, tf.summary.SummaryWriter] = {}
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_accuracies: list[float] = []
        self.total_epochs = 0
        self.visualization: dict[str, np.ndarray] = {}  # hooked layers' outputs, (N, C, H, W) or (N, F)
        self.visualized_inputs: np.ndarray | None = None  # what produced them, (N, C, H, W)
        self.handles: dict[str, tf.Module] = {}
        self._compile()

    @classmethod
    def from_spec(cls, model: Model, train: TrainSpec, mode: str = "native") -> StepByStep:
        return cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)

    def _compile(
        self, signature: Sequence[tf.TensorSpec] | None = None, val_signature: Sequence[tf.TensorSpec] | None = None
    ) -> None:
        """``tf.function`` traces each step into a graph at its first call, and again for
        every new input shape, unless a signature with a free batch size says it need not.
        (In lockstep a training batch's images come with the plan's dropout masks.)"""
        self._train_step = tf.function(self._step, input_signature=signature)
        self._val_step = tf.function(self._evaluate, input_signature=val_signature or signature)

    # -- training ----------------------------------------------------------------------

    def set_loaders(
        self,
        train_loader: tf.data.Dataset,
        val_loader: tf.data.Dataset | None = None,
        test_loader: tf.data.Dataset | None = None,
    ) -> None:
        """``test_loader`` is kept for :meth:`evaluate` after training; ``train`` never reads it.
        Also compiles the steps for the datasets' batches: one trace, short last batch included."""
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.test_loader = test_loader
        self._batches = None
        self._compile(list(train_loader.element_spec), val_loader and list(val_loader.element_spec))

    def set_tensorboard(self, name: str, folder: str | Path = "runs") -> Path:
        """Log each epoch's losses and validation accuracy under ``folder/name_<time>``.

        The torch trainer's tags, as ``SummaryWriter.add_scalars`` lays them out (one run
        per curve: ``loss_training``, ``loss_validation``, ``accuracy_validation``), written
        with ``tf.summary``, so one TensorBoard shows every framework side by side.
        """
        self.writer = Path(folder) / f"{name}_{time.strftime('%Y%m%d%H%M%S')}"
        return self.writer

    def set_seed(self, seed: int = 42) -> None:
        """The book's ``set_seed``: TensorFlow's global seed, the model's generator (dropout's
        masks) and the training dataset's, as the book reseeds its sampler's."""
        tf.random.set_seed(seed)
        self.model.generator.reset_from_seed(seed)
        if self.train_loader is not None:
            data.reseed(self.train_loader, seed)

    def _step(self, x: tf.Tensor | tuple, y: tf.Tensor) -> tf.Tensor:
        """One training step: the tape records the forward pass, then gives the gradients.
        ``x`` is ``(images, masks)`` where a lockstep plan brings dropout's masks."""
        images, masks = x if isinstance(x, tuple) else (x, ())
        with tf.GradientTape() as tape:
            loss = self.loss_fn(y, self.model(images, training=True, masks=masks))
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(gradients)
        return loss

    def _evaluate(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        yhat = self.model(x, training=False)
        return self.loss_fn(y, yhat), yhat

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
        try:
            for batches in self._epochs(n_epochs):
                self._epoch(batches, on_epoch)
        except BaseException:
            self._batches = None  # it may stand inside an epoch: the next train starts a new one
            raise
        finally:
            for summary in self._summaries.values():  # as torch's trainer closes its writer
                summary.close()
            self._summaries = {}

    def _epochs(self, n_epochs: int) -> Iterator[Iterable]:
        """Each of ``n_epochs`` epochs' batches, from one iterator over the repeated training
        dataset, kept from one ``train`` call to the next.

        Making the pipeline's iterator costs some 40 ms (tf.data rewrites and instantiates its
        functions), and so may letting it go, against about 5 ms for a repetition; a small
        model's epoch may take less. Between epochs the iterator stands at a repetition's
        start, and each repetition draws its epoch when its first batch is asked for, as the
        book's sampler draws at each epoch's start: the generator stands where the epochs
        trained so far leave it, so reseeding or a checkpoint's restore still tells the next
        epoch. The trainer owns the iterator (and its pipeline's threads) until
        ``set_loaders`` replaces the dataset or the trainer goes. A dataset of unknown length
        is iterated anew each epoch, as it is.
        """
        steps = int(self.train_loader.cardinality())
        if steps < 0:
            yield from itertools.repeat(self.train_loader, n_epochs)
            return
        for _ in range(n_epochs):
            if self._batches is None:
                self._batches = iter(self.train_loader.repeat())
            yield itertools.islice(self._batches, steps)

    def _epoch(self, batches: Iterable, on_epoch: EpochCallback | None) -> None:
        self.total_epochs += 1
        loss = float(np.mean([float(self._train_step(x, y)) for x, y in batches]))
        self.losses.append(loss)
        val_loss = val_acc = float("nan")
        if self.val_loader is not None:
            val_loss, counts = self.evaluate(self.val_loader)
            val_acc = float(counts[:, 0].sum() / counts[:, 1].sum())
            self.val_losses.append(val_loss)
            self.val_accuracies.append(val_acc)
        check_finite_losses(self.total_epochs, loss, val_loss if self.val_loader is not None else None)
        if self.writer is not None:
            self._log_epoch(self.total_epochs, loss, val_loss, val_acc)
        if on_epoch is not None:
            on_epoch(self.total_epochs, loss, val_loss, val_acc)

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

    def evaluate(self, loader: tf.data.Dataset) -> tuple[float, np.ndarray]:
        """The mean batch loss and per-class ``[correct, total]`` over ``loader``: the
        validation loop, run once (on the test split, after training)."""
        steps = [(self._val_step(x, y), y) for x, y in loader]
        loss = float(np.mean([float(step_loss) for (step_loss, _), _ in steps]))
        return loss, np.sum([batch_counts(yhat.numpy(), y.numpy(), self.loss_kind) for (_, yhat), y in steps], axis=0)

    # -- prediction and metrics ----------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode outputs; with hooks attached, layer by layer, keeping the hooked outputs
        (TensorFlow has no forward hooks: the loop over the layers is ours)."""
        x = tf.convert_to_tensor(x, tf.float32)
        if not self.handles:
            return self.model(x, training=False).numpy()
        self.visualized_inputs = self._canonical(x.numpy(), self.model.input_format == "NHWC")
        for layer in self.model.layers:
            x = layer(x, training=False)
            if layer.name in self.handles:
                self.visualization[layer.name] = self._canonical(x.numpy(), self.model.data_format == "NHWC")
        return x.numpy()

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
        return format_parameter_table(parameter_table(self.model), "tf: model.trainable_variables")

    # -- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, filename: str | Path) -> None:
        """Everything training needs to resume as if it never stopped: the model's variables,
        the optimizer's, the model's generator (dropout), the losses and the dataset's position."""
        history = dict(zip(HISTORY_KEYS, (self.total_epochs, self.losses, self.val_losses, self.val_accuracies)))
        arrays = numbered("model", (v.numpy() for v in self.model.variables))
        arrays |= numbered("optimizer", (v.numpy() for v in self.optimizer.variables))
        arrays["generator"] = self.model.generator.state.numpy()
        pipeline = data.pipeline_state(self.train_loader) if self.train_loader is not None else {}
        arrays |= {f"pipeline/{key}": value for key, value in pipeline.items()}
        write_checkpoint(filename, history, arrays)

    def load_checkpoint(self, filename: str | Path) -> None:
        """Restore a checkpoint into this trainer; then ``train(n, seed=None)`` resumes.
        A checkpoint that does not fit is refused before anything changes."""
        history, arrays = read_checkpoint(filename)
        if arrays.get("generator", np.empty(0)).shape != tuple(self.model.generator.state.shape):
            raise DataError(f"{filename} is not a checkpoint of this trainer: it lacks the model's generator")
        variables = {"model": self.model.variables, "optimizer": self.optimizer.variables}
        pipeline = data.pipeline_state(self.train_loader) if self.train_loader is not None else None
        check_fit(filename, arrays, {key: [v.shape for v in owned] for key, owned in variables.items()}, pipeline)
        for key, owned in variables.items():
            for variable, value in zip(owned, in_order(arrays, key)):
                variable.assign(value)
        self.model.generator.reset(arrays["generator"])
        if pipeline is not None:
            data.restore_pipeline(self.train_loader, group(arrays, "pipeline"))
        self.total_epochs = history["epoch"]
        self.losses, self.val_losses, self.val_accuracies = (list(history[key]) for key in HISTORY_KEYS[1:])

    # -- figures -------------------------------------------------------------------------

    def plot_losses(self) -> Figure:
        return plots.losses_figure({"tf": (self.losses, self.val_losses)}, title="tf")

    def _layer(self, name: str) -> tf.Module:
        """A layer of the spec's, by name: not the transpose that build inserts."""
        layers = {layer.name: layer for layer in self.model.layers if layer.name != "nchw_to_nhwc"}
        if name not in layers:
            raise TwinspecError(f"the model has no layer '{name}' (layers: {', '.join(layers)})")
        return layers[name]

    @staticmethod
    def _canonical(maps: np.ndarray, channels_last: bool) -> np.ndarray:
        """Feature maps as ``(N, C, H, W)``, as torch has them."""
        return maps.transpose(0, 3, 1, 2) if maps.ndim == 4 and channels_last else maps

    def visualize_filters(self, layer: str) -> Figure:
        """A conv layer's kernels, turned from TensorFlow's ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``."""
        found = self._layer(layer)
        if not isinstance(found, Conv2D):
            convs = [other.name for other in self.model.layers if isinstance(other, Conv2D)]
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return plots.filters_figure(found.kernel.numpy().transpose(3, 2, 0, 1), layer)

    def attach_hooks(self, layers: Sequence[str]) -> None:
        """Record the outputs of ``layers`` (``(N, C, H, W)`` or ``(N, F)``) at each prediction."""
        hooked = {name: self._layer(name) for name in layers}
        self.remove_hooks()
        self.handles = hooked

    def remove_hooks(self) -> None:
        self.handles = {}

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
        variables = [*self.model.variables, *self.optimizer.variables]
        saved = [v.numpy() for v in variables]
        generator, pipeline = self.model.generator.state.numpy(), data.pipeline_state(self.train_loader)
        lrs = learning_rates(float(self.optimizer.learning_rate.numpy()), end_lr, num_iter, step_mode)
        raw: list[float] = []
        try:
            while len(raw) < num_iter:
                for x, y in self.train_loader:
                    self.optimizer.learning_rate.assign(lrs[len(raw)])
                    raw.append(float(self._train_step(x, y)))
                    if len(raw) == num_iter:
                        break
        finally:
            for variable, value in zip(variables, saved):
                variable.assign(value)
            self.model.generator.reset(generator)
            data.restore_pipeline(self.train_loader, pipeline)
        tracking = {"lr": lrs.tolist(), "loss": smoothed(raw, alpha)}
        return tracking, plots.lr_range_figure(tracking["lr"], tracking["loss"], step_mode)
