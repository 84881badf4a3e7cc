"""Parity between the frameworks: the same function (forward), the same training
trajectory from the same weights and batches (lockstep), the same accuracy (native).

Native runs draw from different random streams, so single runs differ by chance. Most of
that chance is the initial weights (a ReLU stack either trains or dies from its first
draw), so the runs are paired: for each seed every column starts from the same initial
weights, torch's default init under that seed, and then trains natively, each with its
own sampler, flips and arithmetic. The per-seed accuracy differences are what the port
could change; their mean must lie within ``Z`` standard errors of zero, plus the accuracy
of one validation sample (the granularity below which two runs cannot differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from spec.layers import fan_in

if TYPE_CHECKING:
    from common.runs.result import RunResult
    from spec.schema import Spec

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


# Lockstep. Two correct float32 implementations round every update their own way, and
# their runs part by what that round-off compounds to; how far depends on the model, the
# run and the CPU's kernels, so no fixed figure bounds it on every machine. Every verdict
# measures it instead, on the machine that runs it: the reference trains again with every
# weight and running statistic moved one float32 ulp up or down, at random, after each
# optimizer step (docs/parity.md, "The verdict"). A column passes when it is within LOCKSTEP_K times
# that floor of the reference, in loss and in weights, with the same per-class counts.
# Measured over every spec, layout and both CPU settings (docs/parity.md), Keras is at most 9.6
# times its floor (mnist_cnn's weights, AVX2: its Adam turns round-off that the update
# jitter does not model into updates), then 7.9 (channels_first's weights, through
# TensorFlow's batch mean of a badly conditioned channel). 16 covers both with room, and
# the real differences tested stay 4.7 (loss) to 1,100 bounds beyond.
LOCKSTEP_K = 16.0
# Some runs meet a fork that round-off decides (a unit just switching on or off): one
# floor run may take the reference's branch while the column takes the other. So while a
# column is beyond the bound, the reference runs again under other round-off seeds, up to
# this many runs in all, and the floor is the farthest of them. A real difference stays
# beyond every one; a passing column costs one extra reference run.
LOCKSTEP_FLOOR_RUNS = 4
# The floor run's forward pass is the reference's own, so it misses one thing two
# implementations do: compute the loss from the same weights with other round-off. A dot
# product of n float32 terms is typically off by sqrt(n) u relative (u = 2**-24; Higham
# and Mary, "A new approach to probabilistic rounding error analysis", 2019), a running
# sum by up to n u (Higham, "Accuracy and Stability of Numerical Algorithms", 4.2); a
# floor below the model's largest such figure counts as that (``rounding_floor``).
FLOAT32_UNIT = 2.0**-24
# A floor run whose per-class counts differ from the reference's, or whose loss is this far
# from it, shows that round-off alone decides the run: chaotic in float32, not judged.
LOCKSTEP_CHAOS = 1e-2


TINY = float(np.finfo(np.float32).tiny)  # the scale of a tensor that is all zeros


def rounding_floor(spec: Spec) -> float:
    """The least difference two float32 implementations show from the same weights: sqrt(n)
    u for the model's longest dot product (a linear layer's inputs, a conv's channels x
    kernel), and n u for a batchnorm's batch statistics over n values per channel (a plain
    or lane-wise running sum, as Eigen's reductions under Keras are, is off by up to n u:
    576 values per channel measured 75 u in TensorFlow, 0.4 u in torch)."""
    batch = spec.data.batch_size
    floors = [1.0]
    for layer in spec.model.layers:
        spatial = layer.in_shape[1:]
        if layer.kind in ("linear", "conv2d"):
            floors.append(math.sqrt(fan_in(layer.kind, layer.in_shape, layer.params)))
        elif layer.kind == "batchnorm":
            floors.append(batch * math.prod(spatial))
    return FLOAT32_UNIT * max(floors)


@dataclass(frozen=True)
class RunDistance:
    """How far one lockstep run is from the reference's."""

    max_rel_loss_diff: float  # every epoch's training and validation loss, relative
    max_rel_weight_diff: float  # per tensor, max |difference| / max |reference value|
    per_class_equal: bool
    per_class: list[list[int]]
    same_rates: bool = True  # every step's learning rate equal to the reference's, exactly
    scheduled_steps: int = 0  # the reference's steps, where a scheduler moved its rate (else 0)


def run_distance(reference_run: RunResult, run: RunResult) -> RunDistance:
    """Two runs from the same initial weights and batch plan, epoch by epoch and tensor by tensor."""
    if len(reference_run.train_loss) != len(run.train_loss):
        raise ValueError("lockstep runs of different lengths cannot be compared")
    relative = [
        abs(r - c) / max(abs(r), 1e-12)
        for ours, theirs in ((reference_run.train_loss, run.train_loss), (reference_run.val_loss, run.val_loss))
        for r, c in zip(ours, theirs)
    ]
    weights = [
        float(np.abs(reference - run.weights[layer][key]).max() / max(np.abs(reference).max(), TINY))
        for layer, params in reference_run.weights.items()
        for key, reference in params.items()
    ]
    return RunDistance(  # np.max: a NaN anywhere makes the figure NaN, and the check fail
        max_rel_loss_diff=float(np.max(relative)),
        max_rel_weight_diff=float(np.max(weights, initial=0.0)),
        per_class_equal=reference_run.per_class == run.per_class,
        per_class=run.per_class,
        same_rates=reference_run.learning_rates == run.learning_rates,
        scheduled_steps=len(reference_run.learning_rates) if len(set(reference_run.learning_rates)) > 1 else 0,
    )


def floor_distance(reference_run: RunResult, floor_runs: list[RunResult]) -> RunDistance:
    """The farthest the reference's round-off runs are from it, figure by figure."""
    distances = [run_distance(reference_run, run) for run in floor_runs]
    differing = [d for d in distances if not d.per_class_equal]
    return RunDistance(
        max_rel_loss_diff=float(np.max([d.max_rel_loss_diff for d in distances])),
        max_rel_weight_diff=float(np.max([d.max_rel_weight_diff for d in distances])),
        per_class_equal=not differing,
        per_class=(differing or distances)[0].per_class,
    )


@dataclass(frozen=True)
class LockstepParity:
    """One column's lockstep run against the reference's, judged by the reference's floor."""

    column: str
    reference: str
    distance: RunDistance  # the column from the reference
    floor: RunDistance  # the reference from itself with round-off injected (the farthest run)
    floor_runs: int
    min_floor: float  # rounding_floor: a floor below it counts as it
    reference_per_class: list[list[int]]

    @property
    def max_rel_loss_diff(self) -> float:
        return self.distance.max_rel_loss_diff

    @property
    def max_rel_weight_diff(self) -> float:
        return self.distance.max_rel_weight_diff

    @property
    def per_class_equal(self) -> bool:
        return self.distance.per_class_equal

    @property
    def per_class(self) -> list[list[int]]:
        return self.distance.per_class

    @property
    def same_rates(self) -> bool:
        """Whether the column stepped at the reference's learning rates, every one exactly."""
        return self.distance.same_rates

    @property
    def loss_bound(self) -> float:
        return LOCKSTEP_K * max(self.floor.max_rel_loss_diff, self.min_floor)

    @property
    def weight_bound(self) -> float:
        return LOCKSTEP_K * max(self.floor.max_rel_weight_diff, self.min_floor)

    @property
    def ratio(self) -> float:
        """The larger of difference / bound for losses and weights: 1 or less passes."""
        ratios = [self.max_rel_loss_diff / self.loss_bound, self.max_rel_weight_diff / self.weight_bound]
        return float(np.max(ratios))  # NaN stays NaN, and fails

    @property
    def chaotic(self) -> bool:
        """Round-off alone moves the run too far for any verdict (not a pass, not a failure)."""
        return not self.floor.per_class_equal or not self.floor.max_rel_loss_diff <= LOCKSTEP_CHAOS

    @property
    def passed(self) -> bool:
        return not self.chaotic and self.ratio <= 1 and self.per_class_equal and self.same_rates

    @property
    def verdict(self) -> str:
        """``passed``, ``FAILED`` or ``chaotic``."""
        return "chaotic" if self.chaotic else "passed" if self.passed else "FAILED"

    def figures(self) -> dict:
        """What the JSON files hold."""
        return {
            "max_rel_loss_diff": self.max_rel_loss_diff,
            "max_rel_weight_diff": self.max_rel_weight_diff,
            "per_class_equal": self.per_class_equal,
            "per_class": self.per_class,
            "same_rates": self.same_rates,
            "reference_per_class": self.reference_per_class,
            "floor_rel_loss_diff": self.floor.max_rel_loss_diff,
            "floor_rel_weight_diff": self.floor.max_rel_weight_diff,
            "floor_per_class_equal": self.floor.per_class_equal,
            "floor_runs": self.floor_runs,
            "min_floor": self.min_floor,
            "loss_bound": self.loss_bound,
            "weight_bound": self.weight_bound,
            "ratio": self.ratio,
            "chaotic": self.chaotic,
            "verdict": self.verdict,
            "passed": self.passed,
        }


def lockstep_parity(
    column: str,
    reference: str,
    reference_run: RunResult,
    run: RunResult,
    floor_runs: list[RunResult],
    min_floor: float,
) -> LockstepParity:
    """``run`` against ``reference_run``, judged by how far ``floor_runs`` (the reference
    with round-off injected) are from it, and at least ``min_floor`` (``rounding_floor``)."""
    return LockstepParity(
        column=column,
        reference=reference,
        distance=run_distance(reference_run, run),
        floor=floor_distance(reference_run, floor_runs),
        floor_runs=len(floor_runs),
        min_floor=min_floor,
        reference_per_class=reference_run.per_class,
    )


FORWARD_TOLERANCE = 1e-5  # of the outputs' scale: float32 sums of a few thousand terms in different orders


@dataclass(frozen=True)
class ForwardParity:
    pairs: dict[str, float]  # "torch-nchw vs keras-nhwc" -> max |difference|
    scale: float = 1.0  # the largest |output|, at least 1: a sum's round-off is relative to it

    @property
    def max_abs_diff(self) -> float:
        return max(self.pairs.values())

    @property
    def bound(self) -> float:
        return FORWARD_TOLERANCE * self.scale

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.bound


def forward_parity(outputs: dict[str, np.ndarray]) -> ForwardParity:
    """Every pair of combinations' outputs for the same inputs and weights."""
    names = list(outputs)
    pairs = {
        f"{a} vs {b}": float(np.abs(outputs[a] - outputs[b]).max()) for i, a in enumerate(names) for b in names[i + 1 :]
    }
    return ForwardParity(pairs, max(1.0, *(float(np.abs(output).max()) for output in outputs.values())))
