"""The book's ``StepByStep`` trainer on Keras' own loop: ``compile``, ``fit`` and callbacks,
on whichever backend Keras runs (``keras``: TensorFlow; ``keras-jax``; ``keras-torch``).

What every column's trainer shares is ``common.runs.trainer.StepByStepBase``; the checkpoint
of its variables it shares with the tf column's trainer (``VariablesStepByStep``). This is
Keras' part: ``compile``, ``fit`` and ``evaluate``, fed as Keras users feed them: on
TensorFlow the ``tf.data`` pipeline (``_TensorFlowData``), on JAX and torch numpy batches
(``_NumpyData``: a generator of the training batches, arrays to validate). TensorBoard's
event files are written without TensorFlow (``common.files.events``), on every backend.
``tf_impl/train.py`` writes the same loop by hand: read the two side by side to see what
``fit`` does for you.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from keras_impl._keras import keras  # Keras on this process's backend (its family entered first)
import numpy as np

from common.calls import instantiate, resolve, substitute
from common.data import batches
from common.files.events import CurveWriters
from common.runs.trainer import EpochCallback, TrainingLoader, VariablesStepByStep
from keras_impl import semantics
from keras_impl.build import NAMESPACE, parameter_table
from keras_impl.calls import CLIPS, LOSSES, METRICS, optimizer_call
from spec.errors import TwinspecError
from spec.schema import TrainSpec

PROGRESS_UPDATES = 50  # how often an epoch's progress bar moves

# The book's epoch loss (semantics.BatchMeanLoss) sums in float64 where the backend has it;
# JAX without x64 sums in float32, and warns so at every variable it makes: not a fault.
warnings.filterwarnings("ignore", "Explicitly requested dtype float64", UserWarning, r"keras\.src\.backend\.jax")


def make_loss(loss: str, mode: str = "native") -> keras.losses.Loss:
    """The spec's loss; in lockstep, torch's losses on probabilities where Keras' differ
    (``semantics.LOCKSTEP``)."""
    made = LOSSES[loss]
    return instantiate(substitute(made, semantics.LOCKSTEP) if mode == "lockstep" else made, NAMESPACE)


def infer_loss_kind(loss_fn: keras.losses.Loss) -> str:
    """The spec's name for a loss object: how the trainer turns outputs into classes."""
    for kind, made in LOSSES.items():
        for candidate in (substitute(made, semantics.LOCKSTEP), made):  # torch's own classes first
            logits = dict(candidate.kwargs).get("from_logits", False)
            if type(loss_fn) is resolve(candidate.path, NAMESPACE) and _from_logits(loss_fn) == logits:
                return kind
    known = ", ".join(sorted({made.path.rpartition(".")[2] for made in LOSSES.values()}))
    raise TwinspecError(f"cannot tell what {type(loss_fn).__name__} expects: use one of {known}, or pass loss_kind")


def _from_logits(loss_fn: keras.losses.Loss) -> bool:
    return getattr(loss_fn, "_fn_kwargs", {}).get("from_logits", False)


def make_optimizer(model: keras.Model, train: TrainSpec, mode: str = "native") -> keras.optimizers.Optimizer:
    """The spec's optimizer; in lockstep, torch's Adam and RMSprop where Keras' differ, and
    torch's SGD under a scheduler. ``compile`` binds it to ``model``, not its constructor:
    nothing here reads the model."""
    made = optimizer_call(train)
    if mode == "lockstep":
        table = {**semantics.LOCKSTEP, **(semantics.SCHEDULED_LOCKSTEP if train.scheduler else {})}
        made = substitute(made, table)
    return instantiate(made, NAMESPACE)


class _EpochEnd(keras.callbacks.Callback):
    """Hands each epoch's logs to the trainer, which records, logs and reports them."""

    def __init__(self, end_epoch, on_epoch: EpochCallback | None) -> None:
        super().__init__()
        self.end_epoch = end_epoch
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.end_epoch(logs or {}, self.on_epoch)


class _EpochEndAndSteps(_EpochEnd):
    """Also tells the trainer of the steps done, at each ``steps_per_execution``'s end. Only
    for a progress bar: a callback with a batch hook makes ``fit`` wait for every step's
    logs (on JAX, some 10% of a small model's epoch)."""

    def __init__(self, end_epoch, on_epoch: EpochCallback | None, step_done, steps: int | None) -> None:
        super().__init__(end_epoch, on_epoch)
        self.step_done, self.steps = step_done, steps

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step_done(batch + 1, self.steps)  # batch: the last step of the execution, from 0


class _EpochEndAndBatches(_EpochEndAndSteps):
    """Also steps a batch scheduler after every step, which sets the next step's rate: with
    a batch hook, ``fit`` waits for every step, and runs one step per execution."""

    def __init__(self, end_epoch, on_epoch: EpochCallback | None, step_done, steps: int | None, scheduled) -> None:
        super().__init__(end_epoch, on_epoch, step_done, steps)
        self.scheduled = scheduled

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.scheduled()
        super().on_train_batch_end(batch, logs)


class _TensorFlowData:
    """Keras on TensorFlow is fed ``tf.data``: the TensorFlow family's pipeline."""

    def __init__(self) -> None:
        from tf_impl import data

        self.data = data

    def training_loader(self, loader: Any) -> TrainingLoader:
        return self.data.TrainingLoader.of(loader)

    def steps(self, loader: Any) -> int | None:
        """An epoch's steps; None for a dataset of unknown length."""
        steps = int(loader.dataset.cardinality())
        return steps if steps > 0 else None

    def training(self, loader: Any, steps: int | None, n_epochs: int) -> Any:
        return loader.dataset.repeat() if steps else loader.dataset

    def in_order(self, loader: Any) -> dict:
        """``evaluate``'s arguments for a split served in order."""
        return {"x": loader}

    def validation(self, loader: Any) -> dict:
        return {"validation_data": loader}

    def numpy_batches(self, loader: Any) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        return self.data.numpy_batches(loader)


class _NumpyData:
    """Keras on JAX and on torch is fed numpy (``common.data.batches``), as its users feed it:
    the training batches from a generator, each epoch drawn as it starts, the splits served
    in order as arrays with their batch size."""

    def training_loader(self, loader: Any) -> TrainingLoader:
        if not isinstance(loader, batches.TrainingLoader):
            name = type(loader).__name__
            raise TwinspecError(
                f"Keras on {keras.backend.backend()} trains on a common.data.batches loader, not {name}"
            )
        return loader

    def steps(self, loader: batches.TrainingLoader) -> int:
        return len(loader)

    def training(self, loader: batches.TrainingLoader, steps: int, n_epochs: int) -> Iterator:
        """The epochs' batches, one epoch after another, each drawn when its first batch is
        asked for (a generator: what ``fit`` takes)."""
        for _ in range(n_epochs):
            yield from loader

    def in_order(self, loader: batches.InOrder) -> dict:
        return {"x": loader.x, "y": loader.y, "batch_size": loader.batch_size}

    def validation(self, loader: batches.InOrder) -> dict:
        return {"validation_data": (loader.x, loader.y), "validation_batch_size": loader.batch_size}

    def numpy_batches(self, loader: Iterable) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        return ((np.asarray(x), np.asarray(y)) for x, y in loader)


def _data() -> _TensorFlowData | _NumpyData:
    return _TensorFlowData() if keras.backend.backend() == "tensorflow" else _NumpyData()


class StepByStep(VariablesStepByStep):
    """The book's trainer on Keras: ``set_seed`` at the start, then ``fit`` over the datasets."""

    column = "keras"
    parameters_title = "keras: model.summary()'s trainable weights"
    infer_loss_kind = staticmethod(infer_loss_kind)

    def __init__(
        self,
        model: keras.Model,
        loss_fn: keras.losses.Loss,
        optimizer: keras.optimizers.Optimizer,
        loss_kind: str | None = None,
    ) -> None:
        super().__init__(model, loss_fn, optimizer, loss_kind)
        self._data = _data()
        self._curves = CurveWriters()
        self._featurizer: keras.Model | None = None
        self._compile()

    @classmethod
    def from_spec(cls, model: keras.Model, train: TrainSpec, mode: str = "native") -> StepByStep:
        trainer = cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)
        return trainer._configured(train)

    def _compile(self, steps_per_execution: int = 1) -> None:
        metrics = [semantics.BatchMeanLoss(self.loss_fn), instantiate(METRICS[self.loss_kind], NAMESPACE)]
        self.model.compile(self.optimizer, self.loss_fn, metrics=metrics, steps_per_execution=steps_per_execution)

    # -- training ----------------------------------------------------------------------

    def _training_loader(self, loader: Any) -> TrainingLoader:
        return self._data.training_loader(loader)

    def _loaders_set(self) -> None:
        self._compile(self._steps_per_execution())

    def _steps_per_execution(self) -> int:
        """On TensorFlow, a whole epoch compiled into one call of the train step, unless a
        batch scheduler sets each step's rate; Keras on JAX and torch steps batch by batch."""
        if keras.backend.backend() != "tensorflow" or self.is_batch_lr_scheduler or self.train_loader is None:
            return 1
        return self._data.steps(self.train_loader) or 1

    def _clip_set(self) -> None:
        """The optimizer clips, as its ``clipvalue`` or ``global_clipnorm`` says: read when
        ``fit``'s step is compiled, so the step is compiled again."""
        for argument in CLIPS.values():
            setattr(self.optimizer, argument, None)
        if self.clip is not None:
            setattr(self.optimizer, CLIPS[self.clip.by], self.clip.threshold)
        self._compile(self.model.steps_per_execution)

    def _seed(self, seed: int) -> None:
        """Keras' one call for Python's, numpy's, TensorFlow's and its own generators."""
        keras.utils.set_random_seed(seed)

    def _keras_epoch(self, logs: dict, on_epoch: EpochCallback | None) -> None:
        if not self.is_batch_lr_scheduler:  # every step of the epoch at one rate
            self.learning_rates.extend([self._current_rate()] * (self._data.steps(self.train_loader) or 0))
        validation = None
        if self.val_loader is not None:
            validation = float(logs["val_batch_mean_loss"]), float(logs["val_accuracy"])
        self._end_epoch(float(logs["batch_mean_loss"]), validation, on_epoch)

    def _train(self, n_epochs: int, on_epoch: EpochCallback | None) -> None:
        # KERAS: fit makes a dataset's iterator at every epoch (twice, without steps_per_epoch),
        # and making our pipeline's costs some 40 ms (tf.data rewrites and instantiates its
        # functions); the epoch itself may take less. Given steps_per_epoch and a dataset that
        # does not end, fit keeps one iterator for all its epochs: the pipeline repeated, each
        # repetition drawn when its first batch is asked for (as the book's sampler draws at
        # each epoch's start), about 5 ms. A dataset of unknown length is given as it is.
        # A progress bar hears of steps only between executions: an epoch's steps then run in
        # PROGRESS_UPDATES executions, not one (the same steps, so the same numbers).
        # On JAX and torch: a generator of the epochs' batches, each epoch drawn as it starts,
        # and steps_per_epoch; no steps_per_execution (a step per call, as Keras' default).
        steps = self._data.steps(self.train_loader)
        stepwise = self._on_step is not None and steps and self._steps_per_execution() > 1
        if stepwise:
            self._compile(max(1, steps // PROGRESS_UPDATES))
        validation = self._data.validation(self.val_loader) if self.val_loader is not None else {}
        try:
            self.model.fit(
                self._data.training(self.train_loader, steps, n_epochs),
                **validation,
                initial_epoch=self.total_epochs,
                epochs=self.total_epochs + n_epochs,
                callbacks=[self._callback(on_epoch, steps)],
                shuffle=False,  # the training dataset samples by itself
                steps_per_epoch=steps,
                verbose=0,
            )
        finally:
            if stepwise:
                self._compile(steps)

    def _callback(self, on_epoch: EpochCallback | None, steps: int | None) -> _EpochEnd:
        if self.is_batch_lr_scheduler:
            return _EpochEndAndBatches(self._keras_epoch, on_epoch, self._step_done, steps, self._step_scheduled)
        if self._on_step is None:
            return _EpochEnd(self._keras_epoch, on_epoch)
        return _EpochEndAndSteps(self._keras_epoch, on_epoch, self._step_done, steps)

    def _scheduler_set(self) -> None:
        super()._scheduler_set()
        self._compile(self._steps_per_execution())

    def _set_rate(self, lr: float, momentum: float | None = None) -> None:
        """The optimizer's variables. On JAX, ``fit`` carries them in its state through an
        epoch: the state is put back on the variables first, and the next step takes it
        from there, with the new rate."""
        getattr(self.model, "jax_state_sync", lambda: None)()
        self.optimizer.learning_rate.assign(lr)
        if momentum is not None:
            self.optimizer.momentum_variable.assign(momentum)

    def _steps_per_epoch(self) -> int:
        return self._data.steps(self.train_loader)

    def evaluate(self, loader: Any) -> tuple[float, np.ndarray]:
        """Keras' ``evaluate`` for the mean batch loss, and the per-class counts."""
        logs = self.model.evaluate(**self._data.in_order(loader), return_dict=True, verbose=0)
        return float(logs["batch_mean_loss"]), self.loader_apply(loader, self.correct).sum(axis=0)

    def _log(self, epoch: int, scalars: list[tuple[str, str, float]]) -> None:
        """TensorBoard's curves, without its writer, which would load TensorFlow."""
        self._curves.write(self.log_dir, epoch, scalars)

    def _close_log(self) -> None:
        self._curves.close()  # as torch's trainer closes its writer

    def _numpy_batches(self, loader: Any) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        return self._data.numpy_batches(loader)

    # -- prediction and metrics ----------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        numpy = keras.ops.convert_to_numpy
        if self._featurizer is None:
            return numpy(self.model(x, training=False))
        yhat, *features = self._featurizer(x, training=False)
        for name, output in zip(self.handles, features):
            self.visualization[name] = self._canonical(numpy(output), self._computes_channels_last())
        channels_last_input = self._computes_channels_last() and self.model.layers[0].name != "nchw_to_nhwc"
        self.visualized_inputs = self._canonical(np.asarray(x), channels_last_input)
        return numpy(yhat)

    def _parameter_rows(self) -> list[tuple[str, str, tuple[int, ...], int]]:
        return parameter_table(self.model)

    # -- checkpoints ---------------------------------------------------------------------

    def _variables(self) -> dict[str, list]:
        """The model's variables (dropout's seed states included) and the optimizer's, made
        now if it has not stepped yet (a checkpoint or a range test before any training)."""
        if not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)
        return {"model": list(self.model.variables), "optimizer": list(self.optimizer.variables)}

    # -- figures -------------------------------------------------------------------------

    def _spec_layers(self) -> dict[str, keras.layers.Layer]:
        pairs = zip(self.model.layers, self.model.layers[1:])
        inserted = {"nchw_to_nhwc"} | {pad.name for pad, conv in pairs if pad.name == f"{conv.name}_pad"}
        return {layer.name: layer for layer in self.model.layers if layer.name not in inserted}

    def _computes_channels_last(self) -> bool:
        """The data format of the model's feature maps (after a ``nchw_to_nhwc`` permute, if any)."""
        formats = [layer.data_format for layer in self.model.layers if hasattr(layer, "data_format")]
        return not formats or formats[0] == "channels_last"

    def _kernels(self, layer: str) -> np.ndarray:
        """A conv layer's kernels, turned from Keras' ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``."""
        found = self._layer(layer)
        if not isinstance(found, keras.layers.Conv2D):
            convs = [other.name for other in self.model.layers if isinstance(other, keras.layers.Conv2D)]
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return keras.ops.convert_to_numpy(found.kernel).transpose(3, 2, 0, 1)

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

    # -- learning-rate range test --------------------------------------------------------

    def _learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    def _range_step(self, x: Any, y: Any, lr: float) -> float:
        self.optimizer.learning_rate = lr
        return float(self.model.train_on_batch(x, y, return_dict=True)["loss"])
