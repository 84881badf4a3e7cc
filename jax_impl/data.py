"""The book's data pipeline for JAX: numpy batches, as the Flax tutorials feed their jitted
steps. The pipeline itself is numpy alone (``common.data.batches``): a seeded sampler, the
flips, the normalisation, the lockstep plan's batches with their dropout masks."""

from __future__ import annotations

import numpy as np

from common.data import batches
from common.data.batches import InOrder, TrainingLoader
from common.data.prep import Split
from common.replay.plan import Plan
from spec.schema import DataSpec

__all__ = ["TrainingLoader", "make_loaders", "make_test_loader", "numpy_batches"]


def make_loaders(
    split: Split, data: DataSpec, loss: str, layout: str, seed: int, plan: Plan | None = None
) -> tuple[TrainingLoader, InOrder]:
    """Training and validation batches of numpy arrays in ``layout``; ``seed`` seeds the
    sampler's draws, and a ``plan`` replaces the sampler and the random flips (lockstep)."""
    return batches.make_loaders(split, data, loss, layout, seed, plan)


def make_test_loader(split: Split, data: DataSpec, loss: str, layout: str) -> InOrder | None:
    """The test split as the validation split is served; None when the spec has no test split."""
    return batches.make_test_loader(split, data, loss, layout)


def numpy_batches(loader: InOrder):
    """A loader's batches as numpy arrays (they are)."""
    return ((np.asarray(x), np.asarray(y)) for x, y in loader)
