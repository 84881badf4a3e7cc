#!/usr/bin/env python3
"""What ``pl.Trainer.fit`` costs per step against the book's hand-written torch loop.

Both columns train the same model on the same data: the same ``nn.Sequential``, loss,
optimizer and loaders, built by the same code, so that what differs is the loop. They are
timed in this one run, alternating round by round (after one warm-up epoch each), and each
round's Lightning time per step (training and validation batches) is divided by torch's,
so the ratio holds on a loaded machine too. ``fit`` starts a fresh Trainer each round, as
``StepByStep.train`` does, so its start-up is in the figure.

A third run, "bare", is the least a LightningModule can be (forward and loss, nothing
recorded) under the same Trainer options: the column's time less bare's is what the column
itself adds to Lightning (the book's ``loss.item()`` and per-class counts, which torch's loop
computes too, and one callback per epoch).

    python bench/lightning_overhead.py [SPEC ...] [--epochs N] [--rounds R] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from common.runs.runner import make_trainer  # noqa: E402
from lightning_impl.semantics import trainer_options, trainer_quiet  # noqa: E402
from spec import load_spec, resolve_spec  # noqa: E402

DEFAULT_SPECS = ("relu", "cnn1", "mnist_cnn")
COLUMNS = ("torch", "lightning", "bare")


class Bare(pl.LightningModule):
    """The same model, loss and optimizer, and nothing else."""

    def __init__(self, book) -> None:
        super().__init__()
        self.model, self.loss_fn, self.optimizer = book.model, book.loss_fn, book.optimizer

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss_fn(self.model(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.loss_fn(self.model(x), y)

    def configure_optimizers(self):
        return self.optimizer


class BareTrainer:
    """``train(epochs, seed=None)`` for :class:`Bare`, as the column's trainer runs ``fit``."""

    def __init__(self, spec) -> None:
        book = make_trainer("torch", spec, "nchw")
        self.module, self.train_loader, self.val_loader = Bare(book), book.train_loader.loader, book.val_loader

    def train(self, n_epochs: int, seed: int | None = None) -> None:
        with tempfile.TemporaryDirectory() as root, trainer_quiet():
            pl.Trainer(**trainer_options(n_epochs, root)).fit(self.module, self.train_loader, self.val_loader)


def step_seconds(trainer, epochs: int) -> float:
    """Seconds per step (a training or a validation batch) over ``epochs`` more epochs."""
    steps = epochs * (len(trainer.train_loader) + len(trainer.val_loader))
    start = time.perf_counter()
    trainer.train(epochs, seed=None)
    return (time.perf_counter() - start) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=DEFAULT_SPECS, help="spec names (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timing (default: 3)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timings per column (default: 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both columns (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"per step (median of {args.rounds} rounds), and per round the ratio to torch: median (min-max)")
    print(
        f"{'spec':<11} {'steps':>5} {'torch ms':>9} {'lightning ms':>13} {'bare ms':>8}"
        f"   {'lightning / torch':<19} {'bare / torch':<19} column's own"
    )
    for name in args.specs:
        spec = load_spec(resolve_spec(name))
        trainers = {column: make_trainer(column, spec, "nchw") for column in ("torch", "lightning")}
        trainers["bare"] = BareTrainer(spec)
        for trainer in trainers.values():
            trainer.train(1, seed=spec.train.seed)  # warm-up: first iterations, allocations
        times: dict[str, list[float]] = {column: [] for column in COLUMNS}
        for _ in range(args.rounds):
            for column in COLUMNS:
                times[column].append(step_seconds(trainers[column], args.epochs))
        ms = {column: 1000 * statistics.median(times[column]) for column in COLUMNS}
        steps = len(trainers["torch"].train_loader) + len(trainers["torch"].val_loader)
        own = statistics.median([ours - bare for ours, bare in zip(times["lightning"], times["bare"])])
        print(
            f"{name:<11} {steps:>5} {ms['torch']:9.3f} {ms['lightning']:13.3f} {ms['bare']:8.3f}"
            f"   {_ratios(times['lightning'], times['torch']):<19} {_ratios(times['bare'], times['torch']):<19}"
            f" {1000 * own:+.3f} ms/step",
            flush=True,
        )
    return 0


def _ratios(ours: list[float], theirs: list[float]) -> str:
    ratios = [a / b for a, b in zip(ours, theirs)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


if __name__ == "__main__":
    sys.exit(main())
