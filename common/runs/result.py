"""What one training run of one column produced: plain data, the keys of ``metrics.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class RunResult:
    column: str
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
    # Every training step's learning rate, as Python gave it (torch's float, unrounded).
    learning_rates: list[float] = field(default_factory=list)
    # The test split, evaluated once after training (None: the spec has no test split).
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_per_class: list[list[int]] | None = None
    # What predict needs to prepare an image as this run's inputs were: (C, H, W), the
    # normalisation actually applied (normalize: auto resolved), and the --data path if any.
    input_shape: list[int] = field(default_factory=list)
    normalization: dict | None = None  # {"mean": [...], "std": [...], "from": "spec" or "training split"}
    data: str | None = None
    # Not in the JSON: the trained weights, in the neutral format (layer -> parameter ->
    # array), and the text of the spec the run came from (the run folder's spec.yaml).
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    spec_yaml: str = field(default="", repr=False)

    def metrics(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if key not in ("weights", "spec_yaml")}
