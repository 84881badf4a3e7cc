"""A trained run collected the same way for every column (``StepByStepBase``, the book's trainer API)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from common.data.datasets import load_dataset
from common.data.prep import resolve_normalization, split_dataset
from common.runs.metrics import accuracy
from common.runs.result import RunResult
from common.runs.trainer import EpochCallback, StepByStepBase, StepCallback
from spec.schema import DataSpec, Spec


def train_run(
    trainer: StepByStepBase,
    spec: Spec,
    *,
    column: str,
    layout: str,
    mode: str,
    export: Callable,
    on_epoch: EpochCallback | None = None,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Train with a column's ``StepByStep`` for the spec's epochs and collect what the run
    produced; ``export`` turns the column's model into neutral weights. Then, and only
    then, the trainer's test loader (if any) is evaluated, once: nothing during training
    sees the test split."""
    start = time.perf_counter()
    trainer.train(spec.train.epochs, seed=spec.train.seed, on_epoch=on_epoch, on_step=on_step)
    seconds = time.perf_counter() - start
    per_class = trainer.loader_apply(trainer.val_loader, trainer.correct).sum(axis=0).tolist()
    test_loss = test_per_class = None
    if trainer.test_loader is not None:
        test_loss, counts = trainer.evaluate(trainer.test_loader)
        test_per_class = np.asarray(counts).tolist()
    return RunResult(
        column=column,
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
        learning_rates=[float(v) for v in trainer.learning_rates],
        test_loss=test_loss,
        test_accuracy=None if test_per_class is None else accuracy(test_per_class),
        test_per_class=test_per_class,
        input_shape=list(spec.data.dataset.input_shape),
        normalization=_normalization(spec.data),
        data=spec.data.dataset.params.get("path"),
        weights=export(trainer.model, spec.model),
        spec_yaml=spec.path.read_text(encoding="utf-8"),
    )


def _normalization(data: DataSpec) -> dict | None:
    """The normalisation the loaders applied: ``normalize: auto`` resolved as ``run_inputs`` did."""
    if data.normalize == "auto":
        data = resolve_normalization(data, split_dataset(load_dataset(data.dataset), data))
    if data.mean is None:
        return None
    return {
        "mean": list(data.mean),
        "std": list(data.std),
        "from": "training split" if data.normalize == "auto" else "spec",
    }
