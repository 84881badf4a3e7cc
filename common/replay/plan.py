"""The book's minibatches, replayed in numpy: which samples, and which of them flipped.

After ``StepByStep.set_seed(seed)`` the book's loop draws, per epoch, from two torch CPU
generators seeded alike: the training sampler's own (``WeightedRandomSampler`` takes two
32-bit words per sample) and the global one, which gives each ``DataLoader`` iterator a
base seed (two words), a ``RandomSampler`` its seed (two words), and each
``RandomHorizontalFlip`` one word per sample as it is read. Layers that draw too
(dropout) would interleave with these, so a plan is only made for models without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.data.prep import balanced_weights
from common.replay.torch_random import TorchCPUGenerator
from spec.errors import TwinspecError
from spec.schema import DataSpec, ModelSpec

_MASK53 = np.uint64(2**53 - 1)


@dataclass(frozen=True)
class Batch:
    indices: np.ndarray  # int64 positions in the training split
    flips: np.ndarray  # bool, one per sample


Plan = list[list[Batch]]  # per epoch, its batches in order


def epoch_arrays(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The plan as two ``(epochs, samples)`` arrays, sample order and flips: consecutive
    runs of ``batch_size`` samples are the batches, so a pipeline that batches them in
    order replays the plan."""
    orders = np.stack([np.concatenate([batch.indices for batch in epoch]) for epoch in plan])
    flips = np.stack([np.concatenate([batch.flips for batch in epoch]) for epoch in plan])
    return orders, flips


def _doubles(generator: TorchCPUGenerator, count: int) -> np.ndarray:
    """``uniform_real_distribution<double>(0, 1)``: 53 bits of two words, high word first."""
    words = generator.words(2 * count).reshape(-1, 2)
    return ((words[:, 0] << np.uint64(32) | words[:, 1]) & _MASK53).astype(np.float64) / 2**53


def _seed64(generator: TorchCPUGenerator) -> int:
    """``torch.empty((), dtype=torch.int64).random_()``: a base seed from two words."""
    high, low = generator.words(2)
    return int((high << np.uint64(32)) | low) & (2**63 - 1)


def book_plan(data: DataSpec, model: ModelSpec, train_labels: np.ndarray, seed: int, epochs: int) -> Plan:
    """Every epoch's batches as the book's ``DataLoader`` yields them after ``set_seed(seed)``."""
    if model.dropout_layers:
        raise TwinspecError(
            f"lockstep needs a model without dropout ({', '.join(model.dropout_layers)}): each framework draws"
            " its masks from its own generator between batches, so no plan can replay them"
        )
    global_generator, sampler_generator = TorchCPUGenerator(seed), TorchCPUGenerator(seed)
    n = len(train_labels)
    if data.sampler == "balanced":
        weights = balanced_weights(train_labels).astype(np.float64)
        cdf = np.cumsum(weights) / weights.sum()
    plan = []
    for _ in range(epochs):
        _seed64(global_generator)  # the training iterator's base seed
        if data.sampler == "balanced":
            order = np.searchsorted(cdf, _doubles(sampler_generator, n), side="left")
        elif data.sampler == "shuffle":
            order = TorchCPUGenerator(_seed64(global_generator)).randperm(n)
        else:
            order = np.arange(n)
        epoch = []
        for start in range(0, n, data.batch_size):
            indices = order[start : start + data.batch_size].astype(np.int64)
            flips = np.zeros(len(indices), bool)
            if data.hflip:
                flips = (global_generator.words(len(indices)) & np.uint64(0xFFFFFF)) / 2**24 < data.hflip
            epoch.append(Batch(indices, flips))
        plan.append(epoch)
        _seed64(global_generator)  # the validation iterator's base seed
    return plan
