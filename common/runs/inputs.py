"""What a training run starts from, the same for every column: the split, and in
lockstep mode the batch plan and the initial weights, all drawn in numpy as torch would."""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.data.datasets import load_dataset
from common.data.prep import Split, resolve_normalization, split_dataset
from common.errors import DataError
from common.files.weights import Weights
from common.replay.plan import Plan, book_plan
from common.replay.torch_init import torch_initial_weights
from common.runs import MODES
from spec.schema import DataSpec, Spec

# Draws over all epochs of a lockstep plan, a sample's and each of its dropout units':
# at most 9 bytes each (a sample 9, a mask unit 1), held twice (about 2 GB)
MAX_PLAN_DRAWS = 10**8


@dataclass(frozen=True)
class RunInputs:
    split: Split
    data: DataSpec  # the spec's, with normalize: auto resolved to the training split's statistics
    plan: Plan | None  # lockstep: every epoch's batches, flips and dropout masks; native: each column draws its own
    init: Weights | None  # None: the column's own seeded init


def run_inputs(spec: Spec, layout: str, mode: str = "native", init: Weights | None = None) -> RunInputs:
    """``init`` (neutral weights) replaces the initial weights in either mode; lockstep
    otherwise starts from torch's default init, replayed in numpy. The plan's dropout
    masks depend on the ``layout`` of the torch run they replay (``common.replay.plan``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    data = resolve_normalization(spec.data, split)
    if mode == "native":
        return RunInputs(split, data, None, init)
    plan = book_plan(spec.data, spec.model, split.y_train, spec.train.seed, spec.train.epochs, layout)
    return RunInputs(split, data, plan, init if init is not None else torch_initial_weights(spec.model))


def check_inputs(spec: Spec, mode: str, epochs_given: bool = False) -> list[str]:
    """What the data alone can show is wrong with a run, found before any framework is
    imported: refused as a ``DataError`` at the spec line that causes it; returns the
    warnings about what can still train. ``epochs_given``: the epochs come from ``--epochs``."""
    line = spec.lines.get("data.split")
    where = f"{spec.path}:{line}" if line is not None else str(spec.path)
    try:
        split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    except DataError as exc:
        raise DataError(f"{where}: data.split: {exc}") from None
    n_train, batch = len(split.y_train), spec.data.batch_size
    if "path" in spec.data.dataset.params:  # the user's files (--data)
        where = f"--data {spec.data.dataset.params['path']}"
    warnings = []
    for label, name in enumerate(split.classes):
        if not (split.y_train == label).any():
            raise DataError(f"{where}: class {name!r} has no sample in the training split; the model cannot learn it")
        if not (split.y_val == label).any():
            warnings.append(f"class {name!r} has no sample in the validation split: its accuracy is not measured")
    if batch == 1 or n_train % batch == 1:
        ones = "batches of 1" if batch == 1 else f"a last batch of 1 ({n_train} training samples in batches of {batch})"
        for layer in spec.model.layers:  # one value per channel: flat features, or a 1 x 1 map
            if layer.kind == "batchnorm" and math.prod(layer.in_shape[1:]) == 1:
                raise DataError(
                    f"{spec.path}:{layer.line}: batchnorm '{layer.name}' would train on {ones}, which has no"
                    f" variance (torch refuses it); change data.batch_size at line {spec.lines.get('data.batch_size')}"
                )
    units = sum(math.prod(layer.in_shape) for layer in spec.model.layers if layer.kind == "dropout")
    draws = n_train * spec.train.epochs * (1 + units)
    if mode == "lockstep" and draws > MAX_PLAN_DRAWS:
        source = "--epochs" if epochs_given else f"{spec.path}:{spec.lines.get('train.epochs')}: train.epochs"
        raise DataError(
            f"{source} {spec.train.epochs}: a lockstep plan of {spec.train.epochs} epochs of {n_train} samples"
            + (f" and their dropout masks ({units} units each)" if units else "")
            + f" holds {draws:.2g} draws, more than the {MAX_PLAN_DRAWS:.0e} lockstep replays; use fewer epochs"
            " or --mode native"
        )
    return warnings
