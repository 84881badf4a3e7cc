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
    from common.report import RunResult

Z = 3.0  # a correct port's mean difference exceeds 3 standard errors rarely (~0.3% if normal)


@dataclass(frozen=True)
class NativeParity:
    torch_acc_mean: float
    keras_acc_mean: float
    torch_acc_std: float
    keras_acc_std: float
    diff_std: float
    bound: float
    seeds: int
    # Keras' own default init (glorot, zero bias) under the same seeds: for lectures, not judged.
    keras_init_acc_mean: float | None = None
    keras_init_acc_std: float | None = None

    @property
    def difference(self) -> float:
        return abs(self.torch_acc_mean - self.keras_acc_mean)

    @property
    def passed(self) -> bool:
        return self.difference <= self.bound


def native_parity(
    torch_accs: list[float], keras_accs: list[float], n_val: int, keras_init_accs: list[float] | None = None
) -> NativeParity:
    """Compare paired accuracies (same seed and initial weights at the same position)."""
    t, k = np.asarray(torch_accs, float), np.asarray(keras_accs, float)
    if len(t) != len(k) or len(t) < 2:
        raise ValueError("native parity needs the same number (at least 2) of paired runs per backend")
    diff_std = float((t - k).std(ddof=1))
    own = np.asarray(keras_init_accs, float) if keras_init_accs else None
    return NativeParity(
        torch_acc_mean=float(t.mean()),
        keras_acc_mean=float(k.mean()),
        torch_acc_std=float(t.std(ddof=1)),
        keras_acc_std=float(k.std(ddof=1)),
        diff_std=diff_std,
        bound=Z * diff_std / math.sqrt(len(t)) + 1 / n_val,
        seeds=len(t),
        keras_init_acc_mean=float(own.mean()) if own is not None else None,
        keras_init_acc_std=float(own.std(ddof=1)) if own is not None and len(own) > 1 else None,
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
    torch_per_class: list[list[int]]
    keras_per_class: list[list[int]]
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


def lockstep_parity(torch_run: RunResult, keras_run: RunResult) -> LockstepParity:
    """Two runs from the same initial weights and batch plan, epoch by epoch and weight by weight."""
    if len(torch_run.train_loss) != len(keras_run.train_loss):
        raise ValueError("lockstep runs of different lengths cannot be compared")
    relative = [
        abs(t - k) / max(abs(t), 1e-12)
        for ours, theirs in ((torch_run.train_loss, keras_run.train_loss), (torch_run.val_loss, keras_run.val_loss))
        for t, k in zip(ours, theirs)
    ]
    weights = [
        float(np.abs(torch_run.weights[layer][key] - keras_run.weights[layer][key]).max())
        for layer in torch_run.weights
        for key in torch_run.weights[layer]
    ]
    return LockstepParity(  # np.max: a NaN anywhere makes the figure NaN, and the check fail
        max_rel_loss_diff=float(np.max(relative)),
        max_abs_weight_diff=float(np.max(weights, initial=0.0)),
        per_class_equal=torch_run.per_class == keras_run.per_class,
        torch_per_class=torch_run.per_class,
        keras_per_class=keras_run.per_class,
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


def parity_matrix(reports: list[dict]) -> str:
    """One line per spec from ``run.py parity`` reports: each check's worst figure and verdict."""
    header = f"{'model':<12}  {'forward':>10}  {'lockstep nchw':>15}  {'lockstep nhwc':>15}  {'native |d| / bound':>20}"
    lines = ["", "parity matrix", header]
    for report in reports:
        cells = []
        forward = report.get("forward")
        cells.append(_verdict(f"{forward['max_abs_diff']:.2g}", forward["passed"]) if forward else "-")
        lockstep = report.get("lockstep")
        for layout in ("nchw", "nhwc"):
            if lockstep is None:
                cells.append("-")
            elif not lockstep.get("applicable", True):
                cells.append("n/a (dropout)")
            elif layout in lockstep["layouts"]:
                figures = lockstep["layouts"][layout]
                cells.append(_verdict(f"{figures['max_rel_loss_diff']:.2g}", figures["passed"]))
            else:
                cells.append("-")
        native = report.get("native")
        if native:
            difference = abs(native["torch_acc_mean"] - native["keras_acc_mean"])
            cells.append(_verdict(f"{difference:.3f} / {native['bound']:.3f}", native["passed"]))
        else:
            cells.append("-")
        widths = (10, 15, 15, 20)
        lines.append(f"{report['model']:<12}" + "".join(f"  {cell:>{w}}" for cell, w in zip(cells, widths)))
    lines.append("(lockstep: the largest relative loss difference over all epochs; FAIL marks a failed check)")
    return "\n".join(lines)


def _verdict(figure: str, passed: bool) -> str:
    return figure if passed else f"FAIL {figure}"
