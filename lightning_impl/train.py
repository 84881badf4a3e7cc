"""The book's ``StepByStep`` trainer under PyTorch Lightning: the loop removed, the mathematics kept.

``torch_impl/train.py`` writes the book's loop by hand. Here a ``LightningModule``
(``semantics.LitModel``) holds the same ``nn.Sequential``, loss and optimizer and says what
one step is (``training_step``, ``validation_step``, ``test_step``, ``configure_optimizers``),
``pl.Trainer.fit`` runs the loop and ``pl.Trainer.test`` the test split. ``StepByStep`` is
torch's trainer with ``set_seed``, ``train`` and ``evaluate`` replaced: everything else
(prediction, checkpoints, hooks, figures, the range test) acts on the same model, optimizer
and loaders, so it is torch's, inherited.

What the Trainer does differently from the book's loop is marked ``LIGHTNING:`` here and in
``semantics.py``, with what is done about it.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from common.runs.trainer import EpochCallback, Steps, loop_figures, validation_figures
from lightning_impl.semantics import BookEpochs, LitModel, trainer_options, trainer_quiet
from torch_impl import train as torch_train
from torch_impl.train import CHECKPOINT_KEYS, infer_loss_kind, make_loss, make_optimizer

__all__ = ["EpochCallback", "CHECKPOINT_KEYS", "make_loss", "infer_loss_kind", "make_optimizer", "StepByStep"]


class StepByStep(torch_train.StepByStep):
    """The book's trainer, its loop run by ``pl.Trainer.fit``: the same API as torch's."""

    column = "lightning"

    def __init__(
        self, model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, loss_kind: str | None = None
    ) -> None:
        super().__init__(model, loss_fn, optimizer, loss_kind)  # the book's three arguments infer loss_kind
        self.module = LitModel(model, loss_fn, optimizer, self.loss_kind)
        self.module.learning_rates = self.learning_rates  # the module records each step's rate here

    def _seed(self, seed: int) -> None:
        """The book's ``set_seed``, with Lightning's ``seed_everything``.

        LIGHTNING: ``pl.seed_everything`` seeds Python's, numpy's and torch's global generators
        as the book's set_seed does (and sets PL_GLOBAL_SEED, read only by distributed
        strategies); it does not know the sampler's own generator, which the trainer's
        loader reseeds as the book does. The Trainer seeds nothing itself on one device.
        """
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        pl.seed_everything(seed, workers=False, verbose=False)

    def _scheduler_set(self) -> None:
        """The Trainer steps it, from ``configure_optimizers``."""
        self.module.scheduler, self.module.batch_scheduler = self.scheduler, self.is_batch_lr_scheduler

    def _advance_scheduler(self, val_loss: float | None = None) -> None:
        """Nothing: the Trainer has stepped it (``LitModel.lr_scheduler_step``)."""

    def _train(self, n_epochs: int, on_epoch: EpochCallback | None) -> None:
        """``Trainer.fit``, a fresh Trainer per call: it counts epochs from 0, and draws nothing."""
        if n_epochs == 0:
            return
        try:
            with _lightning_call() as root:
                epochs = BookEpochs(self._book_epoch, on_epoch, self._step_done)
                trainer = pl.Trainer(**trainer_options(n_epochs, root, self.clip), callbacks=[epochs])
                trainer.fit(self.module, self.train_loader.loader, self.val_loader)
        finally:
            self.module.take_epoch()  # an interrupted epoch leaves nothing behind

    def _book_epoch(self, batch_losses: list[float], val_steps: Steps, on_epoch: EpochCallback | None) -> None:
        """An epoch's figures as the book computes them: plain means of the batch losses."""
        validation = validation_figures(val_steps) if self.val_loader is not None else None
        self._end_epoch(float(np.mean(batch_losses)), validation, on_epoch)

    def evaluate(self, loader: DataLoader) -> tuple[float, np.ndarray]:
        """``trainer.test(model, loader)``, once (on the test split, after training): the book's
        mean batch loss and per-class ``[correct, total]``, the figures torch's ``evaluate`` gives."""
        try:
            with _lightning_call() as root:
                pl.Trainer(**trainer_options(0, root)).test(self.module, loader, verbose=False)
            return loop_figures(self.module.test_steps)
        finally:
            self.module.test_steps = []


@contextlib.contextmanager
def _lightning_call() -> Iterator[str]:
    """Around ``fit`` or ``test``: a temporary ``default_root_dir``, the Trainer quiet, Ctrl-C kept.

    LIGHTNING: fit and test turn Ctrl-C into sys.exit(1), after ignoring SIGINT for the rest of
    the process. Put both back: an interrupt stays an interrupt, as in every column.
    """
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with tempfile.TemporaryDirectory(prefix="twinspec-lightning-") as root, trainer_quiet():
            yield root
    except SystemExit as exit_:
        signal.signal(signal.SIGINT, sigint)
        if isinstance(exit_.__context__, KeyboardInterrupt):
            raise exit_.__context__ from None
        raise
