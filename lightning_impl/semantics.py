"""What Lightning needs to run the book's loop: the ``LightningModule``, one callback and the
Trainer's options, each adapting one thing the Trainer does otherwise.

``train.py`` (``StepByStep``) is then torch's trainer with ``train`` handing this module to
``pl.Trainer.fit``. What the Trainer does differently from the book's loop, and what is done
about it, is marked ``LIGHTNING:`` below; ``tests/test_lightning.py`` holds each point by
comparing losses, weights and the global generator's state, bit for bit, with torch's column.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.types import OptimizerLRSchedulerConfig
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from common.runs.metrics import batch_counts
from common.runs.trainer import EpochCallback
from lightning_impl.calls import gradient_clipping
from spec.schema import Clip
from torch_impl.semantics import loss_of

ADAPTATIONS: dict[str, str] = {
    "LitModel": "the book's step as a LightningModule: loss.item() per step, model.train() each epoch "
    "(the Trainer never sets it), the optimizer built once (fit asks configure_optimizers at every start), "
    "trainer.test's batches recorded as validation's (the book's plain mean, not self.log's weighted one)",
    "configure_optimizers": "the scheduler stepped by the Trainer (interval step or epoch), ReduceLROnPlateau on "
    "the book's float64 validation loss (self.log holds float32)",
    "BookEpochs": "the book's epoch loss, the plain mean of the batch losses (self.log weighs batches by size)",
    "trainer_options": "no sanity-check batches (an epoch the book never ran), no logger or checkpoints "
    "(nothing in the working folder, no TensorFlow), the CPU torch computes on",
    "trainer_quiet": "the Trainer's banners, its SIGTERM notice and three of its warnings silenced around fit, "
    "test and save_checkpoint: the command line prints one line per epoch, and one when stopped",
}

Batch = tuple[torch.Tensor, torch.Tensor]


class LitModel(pl.LightningModule):
    """The book's model, loss and optimizer as a ``LightningModule``: what one step is.

    It wraps the ``nn.Sequential`` torch's column builds (the same ``Parameter`` objects),
    and records what the book's trainer records: each training batch's ``loss.item()``, each
    validation batch's loss and per-class counts.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        loss_kind: str | None = None,
    ) -> None:
        """Only ``model`` for a checkpoint (``weights.save_native_model``): nothing trains."""
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn
        # LIGHTNING: fit calls configure_optimizers at every start. The optimizer is built once,
        # outside (make_optimizer: every optimizer of the spec language), so that a second
        # train() - a resumed run - keeps SGD's momentum and Adam's moments, as the book's does.
        self.optimizer = optimizer
        self.loss_kind = loss_kind  # how outputs become classes: see common.runs.metrics
        self.batch_losses: list[float] = []  # this epoch's, as the book's loop collects them
        self.val_steps: list[tuple[float, np.ndarray]] = []
        self.test_steps: list[tuple[float, np.ndarray]] = []  # trainer.test's, as validation's
        self.scheduler: LRScheduler | ReduceLROnPlateau | None = None  # made once, as the optimizer
        self.batch_scheduler = False  # stepped after every batch (CyclicLR, OneCycleLR)
        self.learning_rates: list[float] = []  # each training step's rate: the trainer's list
        self.val_loss = float("nan")  # the last validation's, the book's mean of its batch losses

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_train_epoch_start(self) -> None:
        # LIGHTNING: the book calls model.train() before every training step; Lightning never
        # sets train mode itself (its validation loop puts back the modes it found). Once per
        # epoch is the same: nothing else changes a mode between two training steps.
        self.model.train()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        # LIGHTNING: automatic optimisation runs this inside optimizer.step(closure), as
        # training_step, zero_grad, backward, then the update; the book runs forward, backward,
        # step, zero_grad. The same numbers: zero_grad sets the gradients to None either way, so
        # backward starts from None both times (the Trainer also zeroes the model once when fit
        # starts: they are None already); the loss is divided by accumulate_grad_batches=1, exact;
        # no clipping, precision "32-true".
        x, y = batch
        loss = loss_of(self.loss_fn, self(x), y, "training")
        self.batch_losses.append(loss.item())  # the book's loss.item(), before the step
        self.learning_rates.append(self.optimizer.param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        # LIGHTNING: fit's validation loop runs in eval mode under torch.no_grad (not
        # inference_mode), as the book's does; it runs after the epoch's last training batch,
        # inside the training epoch (val_check_interval=1.0), so the book's order holds.
        x, y = batch
        yhat = self(x)
        loss = loss_of(self.loss_fn, yhat, y, "validation")
        self.val_steps.append((loss.item(), batch_counts(yhat.numpy(), y.numpy(), self.loss_kind)))

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        # LIGHTNING: trainer.test runs in eval mode under torch.inference_mode (the same numbers
        # as the book's no_grad). The book's test figures are those of its validation loop, a
        # plain mean of batch losses and summed counts, so each batch is recorded as
        # validation_step records it; self.log would average the losses weighted by batch size.
        x, y = batch
        yhat = self(x)
        self.test_steps.append((self.loss_fn(yhat, y).item(), batch_counts(yhat.numpy(), y.numpy(), self.loss_kind)))

    def on_validation_epoch_end(self) -> None:
        # LIGHTNING: ReduceLROnPlateau is stepped on a logged metric, "monitor"; self.log holds
        # it in float32, the book steps on its float64 mean, which lr_scheduler_step passes.
        self.val_loss = float(np.mean([loss for loss, _ in self.val_steps]))
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.log("val_loss", self.val_loss)

    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        if self.scheduler is None:
            return self.optimizer
        interval = "step" if self.batch_scheduler else "epoch"
        scheduler = {"scheduler": self.scheduler, "interval": interval}
        if isinstance(self.scheduler, ReduceLROnPlateau):
            scheduler["monitor"] = "val_loss"
        return {"optimizer": self.optimizer, "lr_scheduler": scheduler}

    def lr_scheduler_step(self, scheduler: LRScheduler | ReduceLROnPlateau, metric: object) -> None:
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(self.val_loss)
        else:
            scheduler.step()

    def take_epoch(self) -> tuple[list[float], list[tuple[float, np.ndarray]]]:
        """This epoch's training losses and validation steps; the next epoch starts empty."""
        taken = self.batch_losses, self.val_steps
        self.batch_losses, self.val_steps = [], []
        return taken


EndEpoch = Callable[[list[float], list[tuple[float, np.ndarray]], EpochCallback | None], None]
StepDone = Callable[[int, int], None]  # steps done, steps in the epoch


class BookEpochs(pl.Callback):
    """At each epoch's end, hand the epoch's batch losses and validation steps to the trainer,
    which ends the epoch as torch's does: the book's means, TensorBoard, the progress line;
    after each training step, tell it of the step (``step_done(step, steps)``)."""

    def __init__(self, end_epoch: EndEpoch, on_epoch: EpochCallback | None, step_done: StepDone) -> None:
        self.end_epoch = end_epoch
        self.on_epoch = on_epoch
        self.step_done = step_done

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: LitModel, outputs, batch, batch_idx: int) -> None:
        self.step_done(batch_idx + 1, trainer.num_training_batches)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: LitModel) -> None:
        # LIGHTNING: by this hook the epoch's validation has run too (fit_loop.on_advance_end).
        # The epoch loss is the book's plain float64 mean of the batch losses (as torch's
        # trainer takes it); self.log(..., on_epoch=True) would average in float32, weighted by batch
        # size (cnn1's last validation batch has 8 samples, not 16): another number.
        self.end_epoch(*pl_module.take_epoch(), self.on_epoch)


def trainer_options(n_epochs: int, root: str, clip: Clip | None = None) -> dict:
    """``pl.Trainer``'s arguments for the book's run, each default it changes explained."""
    return {
        **gradient_clipping(clip),
        "max_epochs": n_epochs,
        # The torch column computes on the CPU; the same device is what makes lockstep bit for bit.
        "accelerator": "cpu",
        "devices": 1,
        # LIGHTNING: fit first runs 2 validation batches as a sanity check. It restores the
        # global generators afterwards (isolate_rng: the validation iterator's base-seed draw
        # does not shift the book's stream) and runs in eval mode under no_grad, so nothing
        # moves, but its batches would reach validation_step as an extra epoch the book never
        # ran, and cost time (tests/test_lightning.py shows both). Off.
        "num_sanity_val_steps": 0,
        # LIGHTNING: the default logger (TensorBoardLogger, tensorboard being installed) writes
        # ./lightning_logs/version_N and imports TensorFlow through tensorboard; the default
        # ModelCheckpoint writes .ckpt files under it. Off: the book's trainer logs through
        # set_tensorboard and checkpoints through save_checkpoint, both inherited, and
        # default_root_dir is a temporary folder, so nothing lands in the working folder.
        "logger": False,
        "enable_checkpointing": False,
        "default_root_dir": root,
        # The progress bar and model summary: the command line prints one line per epoch instead.
        "enable_progress_bar": False,
        "enable_model_summary": False,
        # Defaults kept: reload_dataloaders_every_n_epochs=0 (the loaders are set up once and
        # iterated once per epoch, train then validation, like the book's for-loops: each iterator
        # draws its base seed from the global generator in the book's order, and a sized loader
        # is not pre-fetched ahead of the step); use_distributed_sampler acts only when
        # distributed, so the sampler and its generator are used as given; deterministic and
        # benchmark None leave torch's flags as set_seed put them.
    }


QUIET_LOGGERS = ("utilities.rank_zero", "trainer.connectors.signal_connector")  # under pytorch_lightning


@contextlib.contextmanager
def trainer_quiet() -> Iterator[None]:
    """The Trainer's own start-up lines and warnings, silenced where they arise, not process-wide.

    LIGHTNING: "GPU available: ..., used: ...", "TPU available: ..." and "`Trainer.fit` stopped:
    `max_epochs=N` reached." are logged at INFO to ``pytorch_lightning.utilities.rank_zero``
    (pytorch_lightning gives its logger a handler of its own), and "[rank: 0] Received
    SIGTERM: 15" by the handler ``fit`` puts before the process' own, to its signal
    connector's logger: the command line says "interrupted" itself. The warnings: "GPU
    available but not used" (a CUDA machine, accelerator="cpu"), "does not have many
    workers" (more than two cores: the book's loaders read in the main process), and torch
    2.14's FutureWarning about ``LeafSpec``, raised by Lightning's own loader flattening.
    """
    loggers = [logging.getLogger(f"pytorch_lightning.{name}") for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
