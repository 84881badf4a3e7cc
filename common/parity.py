"""Statistical parity of native runs: do two frameworks reach the same accuracy?

Native runs draw from different random streams, so single runs differ by chance. We
train several seeds per backend and accept the difference of the mean accuracies when
it lies within ``Z`` standard errors of that difference, plus the accuracy of one
validation sample (the granularity below which two runs cannot be told apart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z = 3.0  # a true port fails ~0.3% of the time under a normal approximation


@dataclass(frozen=True)
class NativeParity:
    torch_acc_mean: float
    keras_acc_mean: float
    torch_acc_std: float
    keras_acc_std: float
    bound: float
    seeds: int

    @property
    def difference(self) -> float:
        return abs(self.torch_acc_mean - self.keras_acc_mean)

    @property
    def passed(self) -> bool:
        return self.difference <= self.bound


def native_parity(torch_accs: list[float], keras_accs: list[float], n_val: int) -> NativeParity:
    t, k = np.asarray(torch_accs), np.asarray(keras_accs)
    t_std, k_std = (float(a.std(ddof=1)) if len(a) > 1 else 0.0 for a in (t, k))
    standard_error = math.sqrt(t_std**2 / len(t) + k_std**2 / len(k))
    return NativeParity(
        torch_acc_mean=float(t.mean()),
        keras_acc_mean=float(k.mean()),
        torch_acc_std=t_std,
        keras_acc_std=k_std,
        bound=Z * standard_error + 1 / n_val,
        seeds=min(len(t), len(k)),
    )
