"""The book's minibatches, replayed in numpy: which samples, which of them flipped, and
which units each dropout layer kept.

After ``StepByStep.set_seed(seed)`` the book's loop draws, per epoch, from two torch CPU
generators seeded alike: the training sampler's own (``WeightedRandomSampler`` takes two
32-bit words per sample) and the global one, which gives each ``DataLoader`` iterator a
base seed (two words), a ``RandomSampler`` its seed (two words), each
``RandomHorizontalFlip`` one word per sample as it is read, and then, in each batch's
forward pass, each ``nn.Dropout`` its mask, layer after layer.

Torch's CPU dropout is ``noise = empty_like(x).bernoulli_(1 - p); x * noise.div_(1 - p)``
(never fused on a CPU). ``bernoulli_`` runs a serial kernel, whatever the thread count:
one double per element, in memory order, from two words, kept when it is below ``1 - p``.
``p == 0``, ``p == 1``, evaluation mode and empty batches draw nothing. The masks are
stored in torch's logical order, ``(N, C, H, W)`` or ``(N, F)``; which bits they hold
depends on the layout, because an ``nhwc`` torch model keeps its feature maps
channels-last in memory (torch propagates the input's strides through conv, pooling,
padding, batchnorm and activations), so its dropout draws in ``(N, H, W, C)`` order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.data.prep import balanced_weights
from common.replay.torch_random import TorchCPUGenerator
from spec.schema import LAYOUTS, DataSpec, LayerSpec, ModelSpec

_MASK53 = np.uint64(2**53 - 1)


@dataclass(frozen=True)
class Batch:
    indices: np.ndarray  # int64 positions in the training split
    flips: np.ndarray  # bool, one per sample
    masks: tuple[np.ndarray, ...] = ()  # bool keep-masks, one per dropout layer in layer order: (N, *in_shape)


Plan = list[list[Batch]]  # per epoch, its batches in order


def epoch_arrays(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The plan as two ``(epochs, samples)`` arrays, sample order and flips: consecutive
    runs of ``batch_size`` samples are the batches, so a pipeline that batches them in
    order replays the plan."""
    orders = np.stack([np.concatenate([batch.indices for batch in epoch]) for epoch in plan])
    flips = np.stack([np.concatenate([batch.flips for batch in epoch]) for epoch in plan])
    return orders, flips


def mask_arrays(plan: Plan) -> tuple[np.ndarray, ...]:
    """The dropout masks as one ``(epochs, samples, *in_shape)`` bool array per dropout
    layer, aligned with :func:`epoch_arrays`: a pipeline batches them with the samples."""
    layers = len(plan[0][0].masks) if plan and plan[0] else 0
    return tuple(
        np.stack([np.concatenate([batch.masks[i] for batch in epoch]) for epoch in plan]) for i in range(layers)
    )


def dropout_scale(p: float) -> np.float32:
    """What a kept unit is multiplied by: torch divides the mask by the scalar ``1 - p``,
    as ``float32(1) / float32(1 - p)`` (and multiplies everything by 0 when ``p == 1``)."""
    return np.float32(0.0) if p == 1 else np.float32(1.0) / np.float32(1.0 - p)


def layout_dependent_masks(model: ModelSpec) -> list[str]:
    """The dropout layers whose masks differ between layouts: those on (C, H, W) maps."""
    return [layer.name for layer in model.layers if layer.kind == "dropout" and len(layer.in_shape) == 3]


def _doubles(generator: TorchCPUGenerator, count: int) -> np.ndarray:
    """``uniform_real_distribution<double>(0, 1)``: 53 bits of two words, high word first."""
    words = generator.words(2 * count).reshape(-1, 2)
    return ((words[:, 0] << np.uint64(32) | words[:, 1]) & _MASK53).astype(np.float64) / 2**53


def _seed64(generator: TorchCPUGenerator) -> int:
    """``torch.empty((), dtype=torch.int64).random_()``: a base seed from two words."""
    high, low = generator.words(2)
    return int((high << np.uint64(32)) | low) & (2**63 - 1)


def _keep_mask(generator: TorchCPUGenerator, layer: LayerSpec, n: int, layout: str) -> np.ndarray:
    """``nn.Dropout(p)`` in training on a batch of ``n``: ``bernoulli_(1 - p)`` in memory order."""
    p = layer.params["p"]
    shape = (n, *layer.in_shape)
    if p in (0, 1):  # torch draws nothing
        return np.full(shape, p == 0)
    channels_last = layout == "nhwc" and len(layer.in_shape) == 3
    memory = (n, *layer.in_shape[1:], layer.in_shape[0]) if channels_last else shape
    keep = (_doubles(generator, int(np.prod(memory))) < 1.0 - p).reshape(memory)
    return keep.transpose(0, 3, 1, 2) if channels_last else keep


def book_plan(data: DataSpec, model: ModelSpec, train_labels: np.ndarray, seed: int, epochs: int, layout: str) -> Plan:
    """Every epoch's batches as the book's ``DataLoader`` yields them after ``set_seed(seed)``,
    with the masks its dropout layers draw for each, for a torch model in ``layout``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    dropouts = [layer for layer in model.layers if layer.kind == "dropout"]
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
            masks = tuple(_keep_mask(global_generator, layer, len(indices), layout) for layer in dropouts)
            epoch.append(Batch(indices, flips, masks))
        plan.append(epoch)
        _seed64(global_generator)  # the validation iterator's base seed
    return plan
