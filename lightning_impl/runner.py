"""A spec trained end to end under ``pl.Trainer.fit``: natively, as the book trains it, or in
lockstep, from common's initial weights and batch plan.

The model, loss, optimizer and loaders are the ones torch's runner assembles, the same
objects: only the loop that trains them is Lightning's.
"""

from __future__ import annotations

from common.files.weights import Weights
from common.runs.result import RunResult
from common.runs.training import train_run
from lightning_impl import BACKEND
from lightning_impl.train import EpochCallback, StepByStep
from lightning_impl.weights import export_weights
from spec.schema import Spec
from torch_impl import runner as torch_runner


def make_trainer(spec: Spec, layout: str, mode: str = "native", init: Weights | None = None) -> StepByStep:
    """A trainer with its model and loaders, ready to ``train``; ``init`` replaces the
    initial weights (neutral format)."""
    book = torch_runner.make_trainer(spec, layout, mode, init)  # builds and seeds; trains nothing
    trainer = StepByStep(book.model, book.loss_fn, book.optimizer, book.loss_kind)
    trainer.set_loaders(book.train_loader, book.val_loader, book.test_loader)
    return trainer


def train_spec(
    spec: Spec, layout: str, mode: str = "native", on_epoch: EpochCallback | None = None, init: Weights | None = None
) -> RunResult:
    """Train ``spec`` for its epochs and collect what the run produced."""
    trainer = make_trainer(spec, layout, mode, init)
    return train_run(trainer, spec, backend=BACKEND, layout=layout, mode=mode, export=export_weights, on_epoch=on_epoch)


def train_round_off(spec: Spec, layout: str, init: Weights | None = None, seed: int = 0) -> RunResult:
    """torch's round-off run (``torch_impl.runner.train_round_off``: every weight moved one
    float32 ulp at random after every optimizer step), with the Trainer running the loop:
    the hook is on the optimizer, which ``fit`` steps as the book's loop does."""
    trainer = make_trainer(spec, layout, "lockstep", init)
    trainer.optimizer.register_step_post_hook(torch_runner._round_off(trainer.model, seed))
    return train_run(trainer, spec, backend=BACKEND, layout=layout, mode="lockstep", export=export_weights)
