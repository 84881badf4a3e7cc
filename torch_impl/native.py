"""A spec trained the way PyTorch users (and the book) train it."""

from __future__ import annotations

import time

from common.datasets import load_dataset
from common.prep import split_dataset
from common.report import RunResult, run_result
from common.weights import Weights
from spec.schema import Spec
from torch_impl import BACKEND
from torch_impl.build import build_model
from torch_impl.data import make_loaders
from torch_impl.train import EpochCallback, Trainer
from torch_impl.weights import export_weights, import_weights


def train_native(
    spec: Spec, layout: str, on_epoch: EpochCallback | None = None, init: Weights | None = None
) -> RunResult:
    """Train ``spec``; ``init`` replaces the seeded initial weights (neutral format)."""
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    train_loader, val_loader = make_loaders(split, spec.data, spec.train.loss, layout, spec.train.seed)
    model = build_model(spec.model, layout)
    if init is not None:
        import_weights(model, spec.model, init)
    trainer = Trainer.from_spec(model, spec.train)
    trainer.set_loaders(train_loader, val_loader)
    start = time.perf_counter()
    trainer.train(spec.train.epochs, seed=spec.train.seed, on_epoch=on_epoch)
    seconds = time.perf_counter() - start
    return run_result(
        trainer,
        backend=BACKEND,
        spec_name=spec.name,
        layout=layout,
        mode="native",
        classes=split.classes,
        seconds=seconds,
        weights=export_weights(model, spec.model),
    )
