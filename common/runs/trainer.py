"""The book's ``StepByStep``, the part that is the same in every framework.

The book's trainer keeps a history (losses, validation losses and accuracies, epochs
trained), reseeds its generators at the start of ``train``, ends each epoch with the
same bookkeeping, counts correct predictions per class, names its TensorBoard runs and
draws its figures the same way whatever computes the steps. :class:`StepByStepBase` owns
all of that, once, as Keras' ``trainers/trainer.py`` owns what its backends' trainers
share. Each column's ``train.py`` subclasses it with its framework's step, data and
checkpoint code only, so that ``diff`` of two columns' ``train.py`` shows the framework
difference and nothing else.

A checkpoint is restored whole or not at all: the column reads and checks the file
(:meth:`StepByStepBase._read_checkpoint`), the history is checked here, and if restoring
fails part-way the trainer is put back as it was.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

import numpy as np

from common.errors import DataError
from common.files.checkpoint import check_fit, group, in_order, numbered, read_checkpoint, write_checkpoint
from common.present.tables import format_parameter_table
from common.runs.lr_range import learning_rates, smoothed
from common.runs.metrics import batch_counts, check_finite_losses, diverged
from common.runs.schedules import make_schedule, restore_schedule, schedule_state
from spec.errors import TwinspecError, excerpt, printable
from spec.fields import Invalid, positive_number
from spec.schema import Clip, Scheduler, TrainSpec

if TYPE_CHECKING:  # a figure imports matplotlib, a second of start-up that a run without one does not pay
    from matplotlib.figure import Figure

EpochCallback = Callable[[int, float, float, float], None]  # epoch, loss, val_loss, val_acc
StepCallback = Callable[[int, int, int | None], None]  # epoch, steps done, steps in the epoch (None: unknown)
Steps = list[tuple[float, np.ndarray]]  # a loop's batches: each one's loss and per-class [correct, total]
HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_accuracy")  # what a checkpoint's history holds
SCHEDULE_KEYS = ("learning_rates", "scheduler")  # and, since schedulers, every step's rate and the scheduler's state
MAX_HISTORY = 10**7  # epochs a checkpoint may record: more is not a history this trainer wrote


class TrainingLoader(Protocol):
    """The training batches a trainer iterates, with the state they draw from, owned and named
    (each column's ``data.TrainingLoader``)."""

    def __iter__(self): ...

    def reseed(self, seed: int) -> None:
        """Reseed its own generator, as the book's ``set_seed`` reseeds its sampler's, or
        rewind its plan to the first epoch."""

    def epochs_left(self) -> int | None:
        """How many epochs its plan still holds; None for one that draws its own."""

    def state(self) -> dict[str, np.ndarray]:
        """Where it stands: what a checkpoint needs to resume it exactly."""

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Put it back where :meth:`state` found it."""


def loop_figures(steps: Steps) -> tuple[float, np.ndarray]:
    """A loop's figures as the book computes them: the plain mean of the batch losses and
    the summed per-class counts."""
    return float(np.mean([loss for loss, _ in steps])), np.sum([counts for _, counts in steps], axis=0)


def validation_figures(steps: Steps) -> tuple[float, float]:
    """The validation loop's loss and accuracy, from its batches."""
    loss, counts = loop_figures(steps)
    return loss, float(counts[:, 0].sum() / counts[:, 1].sum())


def check_history(history: Any, source: str | Path) -> dict:
    """A checkpoint's history, refused with one line naming the field if it is not one this
    trainer wrote: ``epoch`` a count, the loss lists finite numbers, one per epoch."""
    if not isinstance(history, dict) or set(HISTORY_KEYS) - set(history):
        missing = sorted(set(HISTORY_KEYS) - set(history)) if isinstance(history, dict) else HISTORY_KEYS
        raise DataError(f"{source} is not a checkpoint of this trainer: it lacks {', '.join(missing)}")
    epoch = history["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or not 0 <= epoch <= MAX_HISTORY:
        raise DataError(f"{source}: epoch must be a count of epochs, got {str(epoch)[:40]!r}")
    checked = {"epoch": int(epoch)}
    for key in HISTORY_KEYS[1:]:
        values = history[key]
        if not isinstance(values, (list, tuple)) or len(values) > MAX_HISTORY:
            raise DataError(f"{source}: {key} must be a list of numbers, got {type(values).__name__}")
        if not all(_finite(v) for v in values):
            raise DataError(f"{source}: {key} must hold finite numbers")
        checked[key] = [float(v) for v in values]
    if len(checked["loss"]) != checked["epoch"] or len(checked["val_loss"]) != len(checked["val_accuracy"]):
        raise DataError(f"{source}: its history does not hold one figure per epoch ({checked['epoch']} epochs)")
    rates = history.get("learning_rates", [])
    if not isinstance(rates, (list, tuple)) or len(rates) > MAX_HISTORY or not all(_finite(v) for v in rates):
        raise DataError(f"{source}: learning_rates must be a list of finite numbers")
    checked["learning_rates"] = [float(v) for v in rates]
    checked["scheduler"] = history.get("scheduler")  # the trainer's scheduler checks it against its own
    return checked


def _finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.floating, np.integer))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _threshold(name: str, value: float) -> float:
    try:
        return positive_number(value)
    except Invalid as exc:
        raise TwinspecError(f"{name} must be {exc}, got {excerpt(value)}") from None


class StepByStepBase(ABC):
    """The book's trainer: ``set_seed`` at the start, the framework's steps, mean batch losses.

    A column implements the methods marked abstract: its framework's seeding, epochs,
    evaluation, prediction, hooks and checkpoint file, and reads of its model.
    """

    column: ClassVar[str]  # the registry's name: the figures' titles
    parameters_title: ClassVar[str]  # where the parameter table comes from, in the framework's words

    def __init__(self, model: Any, loss_fn: Any, optimizer: Any, loss_kind: str | None = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        # how outputs become classes (common.runs.metrics); the book's three arguments infer it
        self.loss_kind = loss_kind or self.infer_loss_kind(loss_fn)
        self.train_loader: TrainingLoader | None = None
        self.val_loader: Any = None
        self.test_loader: Any = None
        self.log_dir: Path | None = None  # set_tensorboard's run folder
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_accuracies: list[float] = []
        self.total_epochs = 0
        self.visualization: dict[str, np.ndarray] = {}  # hooked layers' outputs, (N, C, H, W) or (N, F)
        self.visualized_inputs: np.ndarray | None = None  # what produced them, (N, C, H, W)
        self.handles: dict[str, Any] = {}
        self._on_step: StepCallback | None = None  # during train: told of every training step
        self.clip: Clip | None = None  # the gradients' clipping before each update, if any
        self.scheduler: Any = None  # the book's: sets the learning rate (set_lr_scheduler)
        self.is_batch_lr_scheduler = False  # the book's: it steps after every batch, not every epoch
        self.learning_rates: list[float] = []  # the rate of every training step so far
        self._spec_scheduler: tuple[Scheduler, int] | None = None  # from_spec's, made once the loaders are set
        self._rate: float | None = None  # the rate last given in Python (the spec's, a schedule's), unrounded

    @staticmethod
    @abstractmethod
    def infer_loss_kind(loss_fn: Any) -> str:
        """The spec's name for a loss object: how the trainer turns outputs into classes."""

    @classmethod
    @abstractmethod
    def from_spec(cls, model: Any, train: TrainSpec, mode: str = "native") -> StepByStepBase:
        """A trainer for ``model`` with the spec's loss and optimizer (``mode``: lockstep's
        torch semantics where the framework's own differ)."""

    # -- training ----------------------------------------------------------------------

    def set_loaders(self, train_loader: Any, val_loader: Any = None, test_loader: Any = None) -> None:
        """``test_loader`` is kept for :meth:`evaluate` after training; ``train`` never reads it.
        A framework's own loader (the book's ``DataLoader``) is taken as it is, and reseeded
        where it has a generator of its own."""
        self.train_loader = self._training_loader(train_loader)
        self.val_loader = val_loader
        self.test_loader = test_loader
        self._loaders_set()
        if self._spec_scheduler is not None and self.scheduler is None:  # it may count the loader's batches
            self.set_lr_scheduler(self._make_scheduler(*self._spec_scheduler))

    def set_tensorboard(self, name: str, folder: str | Path = "runs") -> Path:
        """Log each epoch's losses and validation accuracy under ``folder/name_<time>``, with
        the book's tags: ``loss`` (training and validation) and ``accuracy`` (validation),
        one run per curve, so that one TensorBoard shows every column side by side."""
        self.log_dir = Path(folder) / f"{name}_{time.strftime('%Y%m%d%H%M%S')}"
        return self.log_dir

    def set_seed(self, seed: int = 42) -> None:
        """The book's ``set_seed``: every generator the loop draws from, the loader's included."""
        self._seed(seed)
        if self.train_loader is not None:
            self.train_loader.reseed(seed)

    def set_clip_grad_value(self, clip_value: float) -> None:
        """The book's: from the next step on, every gradient is clamped to [-clip_value,
        clip_value] before the update (torch's ``clip_grad_value_``)."""
        self._set_clip(Clip("value", _threshold("clip_value", clip_value)))

    def set_clip_grad_norm(self, max_norm: float) -> None:
        """The book's: from the next step on, the gradients are scaled together to a 2-norm of
        at most ``max_norm`` before the update (torch's ``clip_grad_norm_``)."""
        self._set_clip(Clip("norm", _threshold("max_norm", max_norm)))

    def remove_clip(self) -> None:
        """The book's: no clipping from the next step on."""
        self._set_clip(None)

    def _set_clip(self, clip: Clip | None) -> None:
        self.clip = clip
        self._clip_set()

    def set_lr_scheduler(self, scheduler: Any) -> None:
        """The book's: from the next step on, ``scheduler`` sets the learning rate (and the
        momentum, where it cycles it). It steps after every batch if it is a batch scheduler
        (torch's ``CyclicLR``, ``OneCycleLR`` and ``CosineAnnealingWarmRestarts``, as the book
        lists them), else after every epoch, on the validation loss for ``ReduceLROnPlateau``.
        ``None`` removes it, leaving the rate where it is."""
        self.scheduler = scheduler
        self.is_batch_lr_scheduler = scheduler is not None and self._per_step(scheduler)
        self._scheduler_set()

    def _configured(self, train: TrainSpec) -> Self:
        """``from_spec``'s trainer, with what the spec asks beyond the loss and optimizer (its
        scheduler is made when the loaders are set)."""
        if train.clip is not None:
            self._set_clip(train.clip)
        self._rate = train.optimizer_params["lr"]
        if train.scheduler is not None:
            self._spec_scheduler = (train.scheduler, train.epochs)
        return self

    def _make_scheduler(self, scheduler: Scheduler, epochs: int) -> Any:
        """The spec's scheduler over this trainer's optimizer: torch's, written out in plain
        Python (``common.runs.schedules``), for a framework that has no schedule computing
        torch's numbers; torch's columns make torch's own."""
        return make_schedule(scheduler, self._current_rate(), epochs, self._steps_per_epoch())

    def _per_step(self, scheduler: Any) -> bool:
        return scheduler.per_step

    def _scheduler_set(self) -> None:
        """The scheduler's rate (and momentum) on the optimizer now: CyclicLR starts at
        ``base_lr``, OneCycleLR below ``max_lr``."""
        if self.scheduler is not None:
            self._give_rate(self.scheduler.lr, self.scheduler.momentum)

    def _advance_scheduler(self, val_loss: float | None = None) -> None:
        """One step of the scheduler, and its new rate on the optimizer."""
        self.scheduler.step(val_loss)
        self._give_rate(self.scheduler.lr, self.scheduler.momentum)

    def _give_rate(self, lr: float, momentum: float | None) -> None:
        self._rate = lr
        self._set_rate(lr, momentum)

    def _current_rate(self) -> float:
        """The optimizer's learning rate as Python gave it: torch's float, which a framework
        holding it in float32 would round (``0.001`` is ``0.0010000000474974513`` there)."""
        return self._rate if self._rate is not None else self._learning_rate()

    def _scheduled(self, batches: Iterable) -> Iterator:
        """An epoch's training batches, the rate of every step recorded, and a batch scheduler
        stepped after each step (the caller steps between two batches)."""
        rate = None if self.is_batch_lr_scheduler else self._current_rate()  # read once an epoch
        steps = 0
        for batch in batches:
            yield batch
            steps += 1
            if rate is None:
                self._step_scheduled()
        if rate is not None:
            self.learning_rates.extend([rate] * steps)

    def _step_scheduled(self) -> None:
        """A training step made under a batch scheduler: its rate recorded, then the
        scheduler stepped for the next one."""
        self.learning_rates.append(self._current_rate())
        self._advance_scheduler()

    @abstractmethod
    def _clip_set(self) -> None:
        """Make the steps clip as ``self.clip`` says, in the framework's own way."""

    def train(
        self,
        n_epochs: int,
        seed: int | None = 42,
        on_epoch: EpochCallback | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        """Train ``n_epochs`` more epochs. Like the book, reseed first; ``seed=None`` draws on
        from where the generators stand (resuming from a checkpoint). ``on_epoch`` hears each
        epoch's figures; ``on_step``, each training step (a progress bar)."""
        if self.train_loader is None:
            raise TwinspecError("set_loaders() first: the trainer has no training loader")
        if seed is not None:
            self.set_seed(seed)
        left = self.train_loader.epochs_left()
        if left is not None and n_epochs > left:
            raise TwinspecError(f"the batch plan has {left} of its epochs left, not {n_epochs}: make a longer plan")
        total = getattr(self.scheduler, "total_steps", None)  # a one-cycle schedule's end
        if total is not None and self.scheduler.last_epoch + n_epochs * self._steps_per_epoch() > total:
            steps_left = total - self.scheduler.last_epoch
            raise TwinspecError(
                f"the one-cycle schedule has {steps_left} of its {total} steps left: too few for {n_epochs} epochs"
            )
        self._on_step = on_step
        try:
            self._train(n_epochs, on_epoch)
        except FloatingPointError as exc:  # a loss that refuses outputs that are not numbers (torch's BCELoss)
            raise diverged(self.total_epochs + 1, str(exc)) from None
        finally:
            self._on_step = None
            self._close_log()  # as the book closes its writer; the next epoch logged opens it again

    def _stepped(self, batches: Iterable, steps: int | None) -> Iterator:
        """An epoch's training batches, each step reported once it is done."""
        for step, batch in enumerate(batches, 1):
            yield batch
            self._step_done(step, steps)

    def _step_done(self, step: int, steps: int | None) -> None:
        """``step`` of the epoch's ``steps`` is done: tell ``on_step``, if anyone listens."""
        if self._on_step is not None:
            self._on_step(self.total_epochs + 1, step, steps)

    def _end_epoch(self, loss: float, validation: tuple[float, float] | None, on_epoch: EpochCallback | None) -> None:
        """The epoch's bookkeeping, the same in every column: its figures recorded, checked,
        logged and reported. ``validation``: the validation loss and accuracy, if it ran."""
        self.total_epochs += 1
        self.losses.append(loss)
        val_loss, val_acc = validation or (float("nan"), float("nan"))
        if validation is not None:
            self.val_losses.append(val_loss)
            self.val_accuracies.append(val_acc)
        check_finite_losses(self.total_epochs, loss, val_loss if validation is not None else None)
        if self.scheduler is not None and not self.is_batch_lr_scheduler:
            self._epoch_scheduled(validation)
        if self.log_dir is not None:
            scalars = [("loss", "training", loss)]
            if validation is not None:
                scalars += [("loss", "validation", val_loss), ("accuracy", "validation", val_acc)]
            self._log(self.total_epochs, scalars)
        if on_epoch is not None:
            on_epoch(self.total_epochs, loss, val_loss, val_acc)

    def _epoch_scheduled(self, validation: tuple[float, float] | None) -> None:
        """The epoch's end for an epoch scheduler: a step, on the validation loss for
        ReduceLROnPlateau, which without a validation loader has nothing to watch."""
        if self._watches_loss(self.scheduler) and validation is None:
            raise TwinspecError("ReduceLROnPlateau watches the validation loss: set_loaders() with a val_loader")
        self._advance_scheduler(validation[0] if validation is not None else None)

    def _watches_loss(self, scheduler: Any) -> bool:
        return type(scheduler).__name__ == "ReduceLROnPlateau"

    @abstractmethod
    def evaluate(self, loader: Any) -> tuple[float, np.ndarray]:
        """The mean batch loss and per-class ``[correct, total]`` over ``loader``: the
        validation loop, run once (on the test split, after training)."""

    # -- prediction and metrics ----------------------------------------------------------

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode outputs for a batch; with hooks attached, the hooked outputs recorded."""

    def correct(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-class ``[correct, total]`` for one batch, like the book's ``correct``."""
        return batch_counts(self.predict(x), y, self.loss_kind)

    def loader_apply(self, loader: Any, func: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """``func`` on every batch of ``loader``, stacked (sum over axis 0 to total counts)."""
        return np.stack([func(x, y) for x, y in self._numpy_batches(loader)])

    def count_parameters(self) -> int:
        return sum(numel for *_, numel in self._parameter_rows())

    def parameter_table(self) -> str:
        """Each trainable tensor's shape and ``numel``, layer by layer, and the total."""
        return format_parameter_table(self._parameter_rows(), self.parameters_title)

    # -- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, filename: str | Path) -> None:
        """Everything training needs to resume as if it never stopped: the model's and the
        optimizer's states, the history, the generators' and the training loader's positions."""
        self._write_checkpoint(Path(filename), self._history(), self._state())

    def load_checkpoint(self, filename: str | Path) -> None:
        """Restore a checkpoint into this trainer; then ``train(n, seed=None)`` resumes.
        A checkpoint that does not fit is refused before anything changes, and one that fails
        while it is restored leaves the trainer as it was."""
        history, state = self._read_checkpoint(Path(filename))
        history = check_history(history, filename)
        before = self._history(), self._state()
        try:
            self._restore(state)
            self._set_history(history)
        except BaseException as exc:
            self._restore(before[1])
            self._set_history(before[0])
            if not isinstance(exc, Exception) or isinstance(exc, TwinspecError):
                raise
            reason = printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]
            raise DataError(f"{filename} does not fit this trainer ({reason}); nothing was restored") from None

    def _history(self) -> dict:
        """The epochs' figures, every step's rate, and the scheduler's state (None without one)."""
        values = (self.total_epochs, self.losses, self.val_losses, self.val_accuracies)
        history = dict(zip(HISTORY_KEYS, (values[0], *(list(v) for v in values[1:]))))
        scheduler = None if self.scheduler is None else self._scheduler_state()
        return history | {"learning_rates": list(self.learning_rates), "scheduler": scheduler}

    def _set_history(self, history: dict) -> None:
        self.total_epochs = history["epoch"]
        self.losses, self.val_losses, self.val_accuracies = (list(history[key]) for key in HISTORY_KEYS[1:])
        self.learning_rates[:] = history["learning_rates"]  # the list a Lightning module appends to
        saved = history["scheduler"]
        if (saved is None) != (self.scheduler is None):
            has = f"a {type(self.scheduler).__name__}" if self.scheduler is not None else "no scheduler"
            saved_with = "without" if saved is None else "with"
            raise DataError(f"the checkpoint was saved {saved_with} a scheduler; this trainer has {has}")
        if saved is not None:  # checked as it is loaded: nothing a file holds reaches it unchecked
            self._load_scheduler_state(saved)
            self._rate = self._scheduler_rate()  # the rate the optimizer's state holds, unrounded

    def _scheduler_state(self) -> dict:
        """The scheduler's state, plain numbers, strings and lists: what a checkpoint keeps."""
        return schedule_state(self.scheduler)

    def _load_scheduler_state(self, state: dict) -> None:
        restore_schedule(self.scheduler, state)

    def _scheduler_rate(self) -> float:
        return self.scheduler.lr

    # -- figures -------------------------------------------------------------------------

    def plot_losses(self) -> Figure:
        from common.present import plots

        return plots.losses_figure({self.column: (self.losses, self.val_losses)}, title=self.column)

    def visualize_filters(self, layer: str) -> Figure:
        """A conv layer's kernels, ``(out, in, kh, kw)`` as torch holds them, as images."""
        from common.present import plots

        return plots.filters_figure(self._kernels(layer), layer)

    def attach_hooks(self, layers: Sequence[str]) -> None:
        """Record the outputs of ``layers`` (``(N, C, H, W)`` or ``(N, F)``) at each prediction.
        Here, for a framework without forward hooks whose ``predict`` walks the layers itself
        (TensorFlow, JAX): the layers to keep the outputs of. Torch registers hooks; Keras
        builds a model that returns them."""
        hooked = {name: self._layer(name) for name in layers}
        self.remove_hooks()
        self.handles = hooked

    def remove_hooks(self) -> None:
        self.handles = {}

    def _layer(self, name: str) -> Any:
        """A layer of the spec's, by name; refused with the names there are."""
        layers = self._spec_layers()
        if name not in layers:
            raise TwinspecError(f"the model has no layer '{name}' (layers: {', '.join(layers)})")
        return layers[name]

    @abstractmethod
    def _spec_layers(self) -> dict[str, Any]:
        """The model's layers by their names in the spec, without those its build inserts
        (a transpose to the framework's layout, Keras' explicit padding)."""

    def visualize_outputs(
        self,
        layers: Sequence[str],
        n_images: int = 10,
        y: np.ndarray | None = None,
        classes: Sequence[str] | None = None,
    ) -> Figure:
        """The inputs and outputs recorded at the last hooked ``predict``, for its first
        ``n_images``; ``y`` labels the rows with their classes."""
        from common.present import plots

        return plots.recorded_outputs_figure(self.visualization, self.visualized_inputs, layers, n_images, y, classes)

    def visualize_feature_space(
        self, layers: Sequence[str], x: np.ndarray, y: np.ndarray, classes: Sequence[str] | None = None
    ) -> Figure:
        """The bonus chapter "Feature Space": the points ``x`` in the space of each of ``layers``,
        flat layers (a narrow hidden layer, then its activation: how the model bends the data),
        coloured by their classes ``y``. It hooks ``layers`` for one ``predict``, then removes
        every hook."""
        from common.present import plots

        self.attach_hooks(layers)
        try:
            self.predict(x)
            points = {name: self.visualization[name] for name in layers}
        finally:
            self.remove_hooks()
        if len(y) != len(x):
            raise TwinspecError(f"y has {len(y)} labels for {len(x)} points: one class per point")
        maps = [name for name, values in points.items() if np.ndim(values) != 2]
        if maps:
            raise TwinspecError(
                f"{', '.join(maps)}: feature maps, not flat features; a feature space is a flat layer's"
            )
        return plots.feature_space_figure(points, y, classes, title=f"{self.column}: feature space")

    # -- learning-rate range test --------------------------------------------------------

    def lr_range_test(
        self, end_lr: float, num_iter: int = 100, step_mode: str = "exp", alpha: float = 0.05
    ) -> tuple[dict[str, list[float]], Figure]:
        """The book's range test: raise the learning rate each step over the training
        loader, record the smoothed loss, then put model, optimizer and generators back."""
        if self.train_loader is None:
            raise TwinspecError("set_loaders() first: the range test runs over the training loader")
        saved = self._state()
        lrs = learning_rates(self._learning_rate(), end_lr, num_iter, step_mode)
        raw: list[float] = []
        try:
            while len(raw) < num_iter:
                for x, y in self.train_loader:
                    raw.append(self._range_step(x, y, float(lrs[len(raw)])))
                    if len(raw) == num_iter:
                        break
        finally:
            self._restore(saved)
        tracking = {"lr": lrs.tolist(), "loss": smoothed(raw, alpha)}
        from common.present import plots

        return tracking, plots.lr_range_figure(tracking["lr"], tracking["loss"], step_mode)

    # -- what each framework does its own way ---------------------------------------------

    @abstractmethod
    def _training_loader(self, loader: Any) -> TrainingLoader:
        """``loader`` as a :class:`TrainingLoader` (the column's own, or a framework's wrapped)."""

    def _loaders_set(self) -> None:
        """What the framework does once the loaders are known (compile its steps for their batches)."""

    @abstractmethod
    def _seed(self, seed: int) -> None:
        """Seed the generators the framework's loop draws from (the loader's are its own)."""

    @abstractmethod
    def _train(self, n_epochs: int, on_epoch: EpochCallback | None) -> None:
        """Run ``n_epochs`` epochs, each ending in :meth:`_end_epoch`."""

    @abstractmethod
    def _log(self, epoch: int, scalars: list[tuple[str, str, float]]) -> None:
        """Write ``(tag, run, value)`` scalars for ``epoch`` under :attr:`log_dir`."""

    @abstractmethod
    def _close_log(self) -> None: ...

    @staticmethod
    @abstractmethod
    def _numpy_batches(loader: Any) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """A loader's batches as numpy arrays."""

    @abstractmethod
    def _parameter_rows(self) -> list[tuple[str, str, tuple[int, ...], int]]:
        """``(layer, tensor, shape, numel)`` for each trainable tensor, as the framework holds them."""

    @abstractmethod
    def _state(self) -> Any:
        """The model's, the optimizer's, the generators' and the loader's state: a copy."""

    @abstractmethod
    def _restore(self, state: Any) -> None:
        """Put back what :meth:`_state` or :meth:`_read_checkpoint` gave."""

    @abstractmethod
    def _write_checkpoint(self, filename: Path, history: dict, state: Any) -> None: ...

    @abstractmethod
    def _read_checkpoint(self, filename: Path) -> tuple[Any, Any]:
        """The history and the state a checkpoint holds, refused (``DataError``) unless the
        state fits this trainer's model, optimizer and loader in every tensor."""

    @abstractmethod
    def _kernels(self, layer: str) -> np.ndarray:
        """A conv layer's kernels as ``(out, in, kh, kw)``; refused if it is not one."""

    @abstractmethod
    def _learning_rate(self) -> float: ...

    @abstractmethod
    def _set_rate(self, lr: float, momentum: float | None = None) -> None:
        """Give the optimizer learning rate ``lr`` and, unless None, ``momentum`` (SGD's)."""

    @abstractmethod
    def _steps_per_epoch(self) -> int:
        """The training loader's batches per epoch: a cycle's length may count them."""

    @abstractmethod
    def _range_step(self, x: Any, y: Any, lr: float) -> float:
        """One training step at learning rate ``lr``, for the range test: its loss."""


class VariablesStepByStep(StepByStepBase):
    """A trainer whose state is variables that give their value as numpy (``numpy()``) and
    take one (``assign``): TensorFlow's, and Keras' on every backend. Its checkpoint holds
    them by group (:meth:`_variables`) with the training loader's position, in one ``.npz``
    (``common.files.checkpoint``)."""

    def _variables(self) -> dict[str, list]:
        """Every variable training changes, by group: the model's, the optimizer's, and
        whatever else a column's model draws from."""
        raise NotImplementedError

    def _state(self) -> dict[str, list[np.ndarray] | dict[str, np.ndarray]]:
        state: dict = {key: [np.array(v.numpy()) for v in owned] for key, owned in self._variables().items()}
        state["pipeline"] = self.train_loader.state() if self.train_loader is not None else {}
        return state

    def _restore(self, state: dict) -> None:
        for key, owned in self._variables().items():
            for variable, value in zip(owned, state[key], strict=True):
                variable.assign(value)
        if self.train_loader is not None:
            self.train_loader.restore(state["pipeline"])

    def _write_checkpoint(self, filename: Path, history: dict, state: dict) -> None:
        arrays = {}
        for key, owned in state.items():
            arrays |= numbered(key, owned) if key != "pipeline" else {f"pipeline/{k}": v for k, v in owned.items()}
        write_checkpoint(filename, history, arrays)

    def _read_checkpoint(self, filename: Path) -> tuple[dict, dict]:
        history, arrays = read_checkpoint(filename)
        variables = self._variables()
        pipeline = self.train_loader.state() if self.train_loader is not None else None
        expected = {
            key: [(tuple(v.shape), np.dtype(_numpy_dtype(v))) for v in owned] for key, owned in variables.items()
        }
        check_fit(filename, arrays, expected, pipeline)
        state: dict = {key: in_order(arrays, key) for key in variables}
        state["pipeline"] = group(arrays, "pipeline") if pipeline is not None else {}
        return history, state

    @staticmethod
    def _canonical(maps: np.ndarray, channels_last: bool) -> np.ndarray:
        """Feature maps as ``(N, C, H, W)``, as torch has them."""
        return maps.transpose(0, 3, 1, 2) if maps.ndim == 4 and channels_last else maps


def _numpy_dtype(variable: Any) -> np.dtype:
    """A variable's dtype in numpy's terms: TensorFlow's ``tf.DType`` or Keras' name."""
    return getattr(variable.dtype, "as_numpy_dtype", variable.dtype)
