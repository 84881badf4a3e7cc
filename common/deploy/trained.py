"""The trained model an export came from, run in its own framework (the column's
``forward``, as ``predict RUN`` runs it): its outputs for uint8 images, and the floor of
its own float32 round-off on them (``common.parity.referee``)."""

from __future__ import annotations

import numpy as np

from common import columns
from common.parity.referee import NUDGES, Floor, nudged, nudged_weights, output_floor
from common.runs.saved import SavedRun, prepare


def trained_outputs(run: SavedRun, images: np.ndarray) -> np.ndarray:
    """The trained model's outputs for uint8 ``(N, C, H, W)`` images, in its own column and layout."""
    forward = columns.load(run.column, "forward")
    return forward.forward(run.spec.model, run.metrics["layout"], run.weights, prepare(images, run))


def trained_floor(run: SavedRun, images: np.ndarray, reference: np.ndarray) -> Floor:
    """The trained model with its weights and prepared inputs one ulp off, ``NUDGES`` times."""
    forward = columns.load(run.column, "forward")
    x = prepare(images, run)
    outputs = []
    for seed in range(NUDGES):
        rng = np.random.default_rng(seed)
        weights = nudged_weights(run.weights, rng)
        outputs.append(forward.forward(run.spec.model, run.metrics["layout"], weights, nudged(x, rng)))
    return output_floor(run.spec.model, reference, outputs)
