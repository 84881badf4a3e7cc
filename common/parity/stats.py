"""Parity between the frameworks: the same function (forward), the same training
trajectory from the same weights and batches (lockstep), the same accuracy (native).

Native runs draw from different random streams, so single runs differ by chance. Most of
that chance is the initial weights (a ReLU stack either trains or dies from its first
draw), so the runs are paired: for each seed both backends start from the same initial
weights, torch's default init under that seed, and then train natively, each with its
own sampler, flips and arithmetic. The per-seed accuracy differences are what the port
could change; their mean must lie within ``Z`` standard errors of zero, plus the accuracy
of one validation sample (the granularity below which two runs cannot differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from common.runs.result import RunResult

Z = 3.0  # a correct port's mean difference exceeds 3 standard errors rarely (~0.3% if normal)


@dataclass(frozen=True)
class NativeParity:
    """One column's accuracies against the reference's, paired by seed."""

    column: str
    reference: str
    acc_mean: float
    reference_acc_mean: float
    acc_std: float
    reference_acc_std: float
    diff_std: float
    bound: float
    seeds: int
    # The column's framework with its own default init (glorot, zero bias) under the same
    # seeds: for lectures, not judged.
    own_init_acc_mean: float | None = None
    own_init_acc_std: float | None = None

    @property
    def difference(self) -> float:
        return abs(self.reference_acc_mean - self.acc_mean)

    @property
    def passed(self) -> bool:
        return self.difference <= self.bound


def native_parity(
    column: str,
    accs: list[float],
    reference: str,
    reference_accs: list[float],
    n_val: int,
    own_init_accs: list[float] | None = None,
) -> NativeParity:
    """Compare paired accuracies (same seed and initial weights at the same position)."""
    r, c = np.asarray(reference_accs, float), np.asarray(accs, float)
    if len(r) != len(c) or len(r) < 2:
        raise ValueError("native parity needs the same number (at least 2) of paired runs per column")
    diff_std = float((r - c).std(ddof=1))
    own = np.asarray(own_init_accs, float) if own_init_accs else None
    return NativeParity(
        column=column,
        reference=reference,
        acc_mean=float(c.mean()),
        reference_acc_mean=float(r.mean()),
        acc_std=float(c.std(ddof=1)),
        reference_acc_std=float(r.std(ddof=1)),
        diff_std=diff_std,
        bound=Z * diff_std / math.sqrt(len(r)) + 1 / n_val,
        seeds=len(r),
        own_init_acc_mean=float(own.mean()) if own is not None else None,
        own_init_acc_std=float(own.std(ddof=1)) if own is not None and len(own) > 1 else None,
    )


# Lockstep: float32 round-off, compounded over a run, stays orders of magnitude below these
# (measured: README, "Parity"); a semantic difference (a loss, an optimizer, a layout, a
# batch) shows within an epoch as a relative difference of 1e-3 or more.
LOCKSTEP_LOSS_TOLERANCE = 1e-4  # relative, per epoch, training and validation
LOCKSTEP_WEIGHT_TOLERANCE = 1e-4  # absolute, every final weight


@dataclass(frozen=True)
class LockstepParity:
    max_rel_loss_diff: float
    max_abs_weight_diff: float
    per_class_equal: bool
    reference_per_class: list[list[int]]
    per_class: list[list[int]]
    # On failure: torch against itself with every initial weight one ulp off. Above the
    # tolerance, the run is chaotic in float32 and no implementation can follow it.
    noise_floor: float | None = None

    @property
    def chaotic(self) -> bool:
        return self.noise_floor is not None and self.noise_floor > LOCKSTEP_LOSS_TOLERANCE

    @property
    def passed(self) -> bool:
        return (
            self.max_rel_loss_diff <= LOCKSTEP_LOSS_TOLERANCE
            and self.max_abs_weight_diff <= LOCKSTEP_WEIGHT_TOLERANCE
            and self.per_class_equal
        )


def lockstep_parity(reference_run: RunResult, run: RunResult) -> LockstepParity:
    """Two runs from the same initial weights and batch plan, epoch by epoch and weight by weight."""
    if len(reference_run.train_loss) != len(run.train_loss):
        raise ValueError("lockstep runs of different lengths cannot be compared")
    relative = [
        abs(r - c) / max(abs(r), 1e-12)
        for ours, theirs in ((reference_run.train_loss, run.train_loss), (reference_run.val_loss, run.val_loss))
        for r, c in zip(ours, theirs)
    ]
    weights = [
        float(np.abs(reference_run.weights[layer][key] - run.weights[layer][key]).max())
        for layer in reference_run.weights
        for key in reference_run.weights[layer]
    ]
    return LockstepParity(  # np.max: a NaN anywhere makes the figure NaN, and the check fail
        max_rel_loss_diff=float(np.max(relative)),
        max_abs_weight_diff=float(np.max(weights, initial=0.0)),
        per_class_equal=reference_run.per_class == run.per_class,
        reference_per_class=reference_run.per_class,
        per_class=run.per_class,
    )


FORWARD_TOLERANCE = 1e-5  # float32 sums of a few hundred terms in different orders


@dataclass(frozen=True)
class ForwardParity:
    pairs: dict[str, float]  # "torch-nchw vs keras-nhwc" -> max |difference|

    @property
    def max_abs_diff(self) -> float:
        return max(self.pairs.values())

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= FORWARD_TOLERANCE


def forward_parity(outputs: dict[str, np.ndarray]) -> ForwardParity:
    """Every pair of combinations' outputs for the same inputs and weights."""
    names = list(outputs)
    return ForwardParity(
        {
            f"{a} vs {b}": float(np.abs(outputs[a] - outputs[b]).max())
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        }
    )
