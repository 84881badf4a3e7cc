"""What a training run starts from, the same for both backends: the split, and in
lockstep mode the batch plan and the initial weights, all drawn in numpy as torch would."""

from __future__ import annotations

from dataclasses import dataclass

from common.data.datasets import load_dataset
from common.data.prep import Split, split_dataset
from common.files.weights import Weights
from common.replay.plan import Plan, book_plan
from common.replay.torch_init import torch_initial_weights
from common.runs import MODES
from spec.schema import Spec


@dataclass(frozen=True)
class RunInputs:
    split: Split
    plan: Plan | None  # lockstep: every epoch's batches and flips; native: each backend draws its own
    init: Weights | None  # None: the backend's own seeded init


def run_inputs(spec: Spec, mode: str = "native", init: Weights | None = None) -> RunInputs:
    """``init`` (neutral weights) replaces the initial weights in either mode; lockstep
    otherwise starts from torch's default init, replayed in numpy."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    if mode == "native":
        return RunInputs(split, None, init)
    plan = book_plan(spec.data, spec.model, split.y_train, spec.train.seed, spec.train.epochs)
    return RunInputs(split, plan, init if init is not None else torch_initial_weights(spec.model))
