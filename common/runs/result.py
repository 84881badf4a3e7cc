"""What one training run of one column produced: plain data, the keys of ``metrics.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class RunResult:
    backend: str
    model: str
    layout: str
    mode: str
    epochs: int
    train_loss: list[float]
    val_loss: list[float]
    val_accuracy: float
    per_class: list[list[int]]
    params: int
    seconds: float
    classes: list[str] = field(default_factory=list)
    val_accuracy_history: list[float] = field(default_factory=list)
    # trained, in the neutral format (layer -> parameter -> array); not in the JSON
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def metrics(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if key != "weights"}
