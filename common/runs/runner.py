"""A spec trained end to end in any registered column: natively, the way that framework's
users train it, or in lockstep, from common's initial weights and batch plan.

Every column is driven the same way, through the modules its registry entry names (``data``,
``build``, ``weights``, ``train``): this module is the one runner, and adding a column adds
nothing here. Frameworks are imported when a column is first used, not before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common import columns
from common.files.weights import Weights
from common.runs.inputs import run_inputs
from common.runs.result import RunResult
from common.runs.trainer import EpochCallback, StepCallback
from common.runs.training import train_run
from spec.schema import ModelSpec, Spec


def make_trainer(column: str, spec: Spec, layout: str, mode: str = "native", init: Weights | None = None) -> Any:
    """A column's ``StepByStep`` with its model and loaders, ready to ``train``; ``init``
    replaces the initial weights (neutral format)."""
    data, build, weights, train = (columns.load(column, module) for module in ("data", "build", "weights", "train"))
    inputs = run_inputs(spec, layout, mode, init)
    train_loader, val_loader = data.make_loaders(
        inputs.split, inputs.data, spec.train.loss, layout, spec.train.seed, inputs.plan
    )
    test_loader = data.make_test_loader(inputs.split, inputs.data, spec.train.loss, layout)
    model = build.build_model(spec.model, layout, mode)
    if inputs.init is not None:
        weights.import_weights(model, spec.model, inputs.init)
    trainer = train.StepByStep.from_spec(model, spec.train, mode)
    trainer.set_loaders(train_loader, val_loader, test_loader)
    return trainer


def train_spec(
    column: str,
    spec: Spec,
    layout: str,
    mode: str = "native",
    on_epoch: EpochCallback | None = None,
    on_step: StepCallback | None = None,
    init: Weights | None = None,
) -> RunResult:
    """Train ``spec`` in ``column`` for its epochs and collect what the run produced."""
    trainer = make_trainer(column, spec, layout, mode, init)
    export = columns.load(column, "weights").export_weights
    callbacks = {"on_epoch": on_epoch, "on_step": on_step}
    return train_run(trainer, spec, column=column, layout=layout, mode=mode, export=export, **callbacks)


def train_round_off(spec: Spec, layout: str, init: Weights | None = None, seed: int = 0) -> RunResult:
    """The reference's lockstep run again, with every weight and running statistic moved one
    float32 ulp up or down, at random, after every optimizer step: what another correct
    float32 implementation does to the run, rounding each update its own way. The lockstep
    verdicts measure their noise floor with it (``common.parity.checks``)."""
    reference = columns.REFERENCE
    trainer = make_trainer(reference, spec, layout, "lockstep", init)
    columns.load(reference, "semantics").inject_round_off(trainer, seed)
    export = columns.load(reference, "weights").export_weights
    return train_run(trainer, spec, column=reference, layout=layout, mode="lockstep", export=export)


def column_forward(column: str, model: ModelSpec, layout: str, weights: Weights, x: np.ndarray) -> np.ndarray:
    """Column ``column``'s eval-mode outputs for ``x`` from ``weights`` (its ``forward``): a
    function a family's worker can be handed by name (``common.runs.workers``)."""
    return columns.load(column, "forward").forward(model, layout, weights, x)


def native_file(column: str) -> str:
    """The name of the file column ``column`` saves its model in, as its users save it."""
    return columns.load(column, "weights").NATIVE_FILE


def save_native_model(column: str, model: ModelSpec, weights: Weights, path: Path) -> None:
    """Column ``column``'s model file, written at ``path`` (``train`` writes it beside the
    neutral weights; a function a family's worker can be handed by name)."""
    columns.load(column, "weights").save_native_model(model, weights, path)
