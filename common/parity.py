"""Statistical parity of native runs: do two frameworks reach the same accuracy?

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

import numpy as np

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

    @property
    def difference(self) -> float:
        return abs(self.torch_acc_mean - self.keras_acc_mean)

    @property
    def passed(self) -> bool:
        return self.difference <= self.bound


def native_parity(torch_accs: list[float], keras_accs: list[float], n_val: int) -> NativeParity:
    """Compare paired accuracies (same seed and initial weights at the same position)."""
    t, k = np.asarray(torch_accs, float), np.asarray(keras_accs, float)
    if len(t) != len(k) or len(t) < 2:
        raise ValueError("native parity needs the same number (at least 2) of paired runs per backend")
    diff_std = float((t - k).std(ddof=1))
    return NativeParity(
        torch_acc_mean=float(t.mean()),
        keras_acc_mean=float(k.mean()),
        torch_acc_std=float(t.std(ddof=1)),
        keras_acc_std=float(k.std(ddof=1)),
        diff_std=diff_std,
        bound=Z * diff_std / math.sqrt(len(t)) + 1 / n_val,
        seeds=len(t),
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
