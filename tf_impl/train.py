"""The book's ``StepByStep`` trainer in TensorFlow without Keras: a ``tf.GradientTape`` step
compiled with ``tf.function``, the loss and optimizer written in ``tf`` ops (``semantics``).

What every column's trainer shares is ``common.runs.trainer.StepByStepBase``; the
checkpoint of variables this trainer shares with Keras' is its ``VariablesStepByStep``.
:class:`TensorFlowStepByStep` adds TensorBoard through ``tf.summary`` and ``tf.data``'s
loaders. This module's ``StepByStep`` is the loop itself, batch by batch, as torch's column
writes it; ``keras_impl/train.py`` hands the same to ``fit``: read the two side by side to
see what ``fit`` does for you.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from common.calls import instantiate, resolve, substitute
from common.runs.metrics import batch_counts
from common.runs.trainer import EpochCallback, VariablesStepByStep, loop_figures
from spec.errors import TwinspecError
from spec.schema import Clip, TrainSpec
from tf_impl import semantics
from tf_impl._tensorflow import tf
from tf_impl.build import NAMESPACE, Model, parameter_table
from tf_impl.calls import LOSSES, optimizer_call
from tf_impl.data import TrainingLoader, numpy_batches

Loss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (targets, outputs) -> the batch's mean loss
Optimizer = semantics.SGD | semantics.Adam | semantics.AdamW | semantics.RMSprop


def make_loss(loss: str, mode: str = "native") -> Loss:
    """The spec's loss, a function of ``semantics``; in lockstep, torch's losses on
    probabilities where TensorFlow's differ (``semantics.lockstep_calls``)."""
    made = LOSSES[loss]
    return instantiate(substitute(made, semantics.LOCKSTEP) if mode == "lockstep" else made, NAMESPACE)


def infer_loss_kind(loss_fn: Loss) -> str:
    """The spec's name for a loss function: how the trainer turns outputs into classes."""
    lockstep = semantics.LOCKSTEP
    for kind, made in LOSSES.items():
        if loss_fn in (resolve(made, NAMESPACE), resolve(substitute(made, lockstep), NAMESPACE)):
            return kind
    known = ", ".join(sorted({*LOSSES.values(), *(substitute(made, lockstep) for made in LOSSES.values())}))
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    raise TwinspecError(f"cannot tell what {name} expects: use one of {known}, or pass loss_kind")


def make_optimizer(model: Model, train: TrainSpec, mode: str = "native") -> Optimizer:
    """The spec's optimizer over the model's trainable variables. Written as torch writes
    it, lockstep has nothing to substitute."""
    return instantiate(optimizer_call(train), {**NAMESPACE, "model": model})


class TensorFlowStepByStep(VariablesStepByStep):
    """The TensorFlow column's trainer's frame: TensorBoard through ``tf.summary`` (the torch
    trainer's tags, one run per curve as ``SummaryWriter.add_scalars`` lays them out), batches
    read as numpy, and a checkpoint of its variables (``VariablesStepByStep``, which the
    Keras column's trainer shares on every backend)."""

    def __init__(self, model, loss_fn, optimizer, loss_kind: str | None = None) -> None:
        super().__init__(model, loss_fn, optimizer, loss_kind)
        self._summaries: dict[str, tf.summary.SummaryWriter] = {}

    def _training_loader(self, loader: tf.data.Dataset | TrainingLoader) -> TrainingLoader:
        return TrainingLoader.of(loader)

    def _log(self, epoch: int, scalars: list[tuple[str, str, float]]) -> None:
        for tag, run, value in scalars:
            writer = f"{tag}_{run}"
            if writer not in self._summaries:
                self._summaries[writer] = tf.summary.create_file_writer(str(self.log_dir / writer))
            with self._summaries[writer].as_default():
                tf.summary.scalar(tag, value, step=epoch)
            self._summaries[writer].flush()

    def _close_log(self) -> None:
        for summary in self._summaries.values():  # as torch's trainer closes its writer
            summary.close()
        self._summaries = {}

    _numpy_batches = staticmethod(numpy_batches)


class StepByStep(TensorFlowStepByStep):
    """The book's trainer in TensorFlow: ``set_seed`` at the start, a compiled step per batch."""

    column = "tf"
    parameters_title = "tf: model.trainable_variables"
    infer_loss_kind = staticmethod(infer_loss_kind)

    def __init__(self, model: Model, loss_fn: Loss, optimizer: Optimizer, loss_kind: str | None = None) -> None:
        super().__init__(model, loss_fn, optimizer, loss_kind)
        self._batches: Iterator | None = None  # over the training dataset repeated: see _epochs
        self._compile()

    @classmethod
    def from_spec(cls, model: Model, train: TrainSpec, mode: str = "native") -> StepByStep:
        trainer = cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)
        return trainer._configured(train)

    def _compile(
        self, signature: Sequence[tf.TensorSpec] | None = None, val_signature: Sequence[tf.TensorSpec] | None = None
    ) -> None:
        """``tf.function`` traces each step into a graph at its first call, and again for
        every new input shape, unless a signature with a free batch size says it need not.
        (In lockstep a training batch's images come with the plan's dropout masks.)"""
        self._signatures = signature, val_signature
        self._train_step = tf.function(self._step, input_signature=signature)
        self._val_step = tf.function(self._evaluate, input_signature=val_signature or signature)

    def _clip_set(self) -> None:
        """The step reads ``self.clip`` as it is traced: traced again."""
        self._compile(*self._signatures)

    # -- training ----------------------------------------------------------------------

    def _loaders_set(self) -> None:
        """Compiles the steps for the datasets' batches: one trace, short last batch included."""
        self._batches = None
        val = self.val_loader and list(self.val_loader.element_spec)
        self._compile(list(self.train_loader.dataset.element_spec), val)

    def _seed(self, seed: int) -> None:
        """TensorFlow's global seed and the model's ``rng`` (dropout's masks)."""
        tf.random.set_seed(seed)
        self.model.rng.reset_from_seed(seed)

    def _step(self, x: tf.Tensor | tuple, y: tf.Tensor) -> tf.Tensor:
        """One training step: the tape records the forward pass, then gives the gradients.
        ``x`` is ``(images, masks)`` where a lockstep plan brings dropout's masks."""
        images, masks = x if isinstance(x, tuple) else (x, ())
        with tf.GradientTape() as tape:
            loss = self.loss_fn(y, self.model(images, training=True, masks=masks))
        gradients = tape.gradient(loss, self.model.trainable_variables)
        if self.clip is not None:  # calls.CLIPS, as the listing writes it
            gradients = _clipped(gradients, self.clip)
        self.optimizer.apply_gradients(gradients)
        return loss

    def _evaluate(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        yhat = self.model(x, training=False)
        return self.loss_fn(y, yhat), yhat

    def _train(self, n_epochs: int, on_epoch: EpochCallback | None) -> None:
        try:
            steps = int(self.train_loader.dataset.cardinality())
            for batches in self._epochs(n_epochs):
                stepped = self._scheduled(self._stepped(batches, steps if steps > 0 else None))
                loss = float(np.mean([float(self._train_step(x, y)) for x, y in stepped]))
                validation = None
                if self.val_loader is not None:
                    val_loss, counts = self.evaluate(self.val_loader)
                    validation = val_loss, float(counts[:, 0].sum() / counts[:, 1].sum())
                self._end_epoch(loss, validation, on_epoch)
        except BaseException:
            self._batches = None  # it may stand inside an epoch: the next train starts a new one
            raise

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
        dataset = self.train_loader.dataset
        steps = int(dataset.cardinality())
        if steps < 0:
            yield from itertools.repeat(dataset, n_epochs)
            return
        for _ in range(n_epochs):
            if self._batches is None:
                self._batches = iter(dataset.repeat())
            yield itertools.islice(self._batches, steps)

    def evaluate(self, loader: tf.data.Dataset) -> tuple[float, np.ndarray]:
        steps = [(self._val_step(x, y), y) for x, y in loader]
        return loop_figures(
            [(float(loss), batch_counts(yhat.numpy(), y.numpy(), self.loss_kind)) for (loss, yhat), y in steps]
        )

    # -- prediction and metrics ----------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode outputs; with hooks attached, layer by layer, keeping the hooked outputs
        (TensorFlow has no forward hooks: the loop over the layers is ours)."""
        x = tf.convert_to_tensor(x, tf.float32)
        if not self.handles:
            return self.model(x, training=False).numpy()
        self.visualized_inputs = self._canonical(x.numpy(), self.model.input_format == "NHWC")
        for layer in self.model.layers:
            x = self.model.apply(layer, x)
            if layer.name in self.handles:
                self.visualization[layer.name] = self._canonical(x.numpy(), self.model.data_format == "NHWC")
        return x.numpy()

    def _parameter_rows(self) -> list[tuple[str, str, tuple[int, ...], int]]:
        return parameter_table(self.model)

    # -- checkpoints ---------------------------------------------------------------------

    def _variables(self) -> dict[str, list[tf.Variable]]:
        """The model's variables, the optimizer's, and the model's generator (dropout)."""
        generator = [self.model.rng.state]
        return {"model": list(self.model.variables), "optimizer": self.optimizer.variables, "generator": generator}

    # -- figures -------------------------------------------------------------------------

    def _spec_layers(self) -> dict:
        return {layer.name: layer for layer in self.model.layers if layer.name != "nchw_to_nhwc"}

    def _kernels(self, layer: str) -> np.ndarray:
        """A conv layer's kernels, turned from TensorFlow's ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``."""
        self._layer(layer)
        kernels = {found.name: getattr(self.model, f"{found.name}_kernel", None) for found in self.model.layers}
        convs = [name for name, kernel in kernels.items() if kernel is not None and kernel.shape.rank == 4]
        if layer not in convs:
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return getattr(self.model, f"{layer}_kernel").numpy().transpose(3, 2, 0, 1)

    # -- learning-rate range test --------------------------------------------------------

    def _learning_rate(self) -> float:
        return float(self.optimizer.learning_rate.numpy())

    def _set_rate(self, lr: float, momentum: float | None = None) -> None:
        """The optimizer's variables: the compiled step reads them, and is not traced again."""
        self.optimizer.learning_rate.assign(lr)
        if momentum is not None:
            self.optimizer.momentum.assign(momentum)

    def _steps_per_epoch(self) -> int:
        return int(self.train_loader.dataset.cardinality())

    def _range_step(self, x: tf.Tensor, y: tf.Tensor, lr: float) -> float:
        self._set_rate(lr)
        return float(self._train_step(x, y))


def _clipped(gradients: list[tf.Tensor], clip: Clip) -> list[tf.Tensor]:
    if clip.by == "value":
        return [tf.clip_by_value(g, -clip.threshold, clip.threshold) for g in gradients]
    return tf.clip_by_global_norm(gradients, clip.threshold)[0]
