"""A trained run collected the same way for every column (they share the book's trainer API)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common.data.datasets import load_dataset
from common.runs.metrics import accuracy
from common.runs.result import RunResult
from spec.schema import Spec


def train_run(
    trainer: Any,
    spec: Spec,
    *,
    backend: str,
    layout: str,
    mode: str,
    export: Callable,
    on_epoch: Callable | None = None,
) -> RunResult:
    """Train with a column's ``StepByStep`` for the spec's epochs and collect what the run
    produced; ``export`` turns the column's model into neutral weights."""
    start = time.perf_counter()
    trainer.train(spec.train.epochs, seed=spec.train.seed, on_epoch=on_epoch)
    seconds = time.perf_counter() - start
    per_class = trainer.loader_apply(trainer.val_loader, trainer.correct).sum(axis=0).tolist()
    return RunResult(
        backend=backend,
        model=spec.name,
        layout=layout,
        mode=mode,
        epochs=trainer.total_epochs,
        train_loss=[float(v) for v in trainer.losses],
        val_loss=[float(v) for v in trainer.val_losses],
        val_accuracy=accuracy(per_class),
        per_class=per_class,
        params=trainer.count_parameters(),
        seconds=seconds,
        classes=list(load_dataset(spec.data.dataset).classes),
        val_accuracy_history=[float(v) for v in trainer.val_accuracies],
        weights=export(trainer.model, spec.model),
    )
