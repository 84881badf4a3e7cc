"""The book's data pipeline in numpy alone: balanced sampling, flips, normalisation, batches.

For the frameworks whose users feed their training step numpy arrays (JAX, as the Flax
tutorials do): a loader is an iterable of ``(x, y)`` numpy batches in the model's layout.
The images are normalised once, up front (normalising is elementwise, so flipping after
computes what the book's flip-then-normalise does). Each training epoch draws its sample
order and flips from ``numpy.random.default_rng((seed, epoch))``: reproducible from the
seed alone, new every epoch, and the loader's whole state is two numbers. In lockstep mode
the training loader replays a batch plan from ``common.replay.plan`` instead, and its batches
carry the plan's dropout masks next to the images, ``((x, masks), y)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from common.data.prep import Split, normalize, to_layout
from common.replay.plan import Plan, epoch_arrays, mask_arrays
from spec.schema import DataSpec

Batch = tuple[np.ndarray | tuple[np.ndarray, tuple[np.ndarray, ...]], np.ndarray]


def training_batches(x, y, batch_size, sampler, hflip, seed, epoch, width_axis=2):
    """One epoch of training batches of the images ``x`` (float32, normalised) and labels
    ``y``, drawn from ``numpy.random.default_rng((seed, epoch))``: ``balanced``, a sample
    with replacement in which every class is equally likely (as torch's
    ``WeightedRandomSampler`` draws); ``shuffle``, a permutation; ``sequential``, in order.
    Each image is mirrored (along ``width_axis``) with probability ``hflip``."""
    rng = np.random.default_rng((seed, epoch))
    n = len(y)
    if sampler == "balanced":
        labels = np.asarray(y).reshape(-1).astype(np.int64)
        weights = 1 / np.bincount(labels)[labels]
        order = rng.choice(n, n, replace=True, p=weights / weights.sum())
    elif sampler == "shuffle":
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    flips = rng.random(n) < hflip
    for start in range(0, n, batch_size):
        chosen = order[start : start + batch_size]
        x_batch = x[chosen]
        if hflip:
            flipped = flips[start : start + batch_size].reshape(-1, *[1] * (x.ndim - 1))
            x_batch = np.where(flipped, np.flip(x_batch, width_axis), x_batch)
        yield x_batch, y[chosen]


def targets(y: np.ndarray, loss: str) -> np.ndarray:
    """BCE wants float ``(N, 1)`` targets; the multiclass losses want class indices ``(N,)``."""
    if loss in ("bce", "bce_logits"):
        return y.reshape(-1, 1).astype(np.float32)
    return y.astype(np.int32)


def images(x: np.ndarray, data: DataSpec, layout: str) -> np.ndarray:
    """A split's images normalised (``normalize: auto`` already resolved) in ``layout``."""
    if data.mean is not None:
        x = normalize(x, data.mean, data.std)
    return to_layout(np.asarray(x, np.float32), layout)


class InOrder:
    """A split's batches in order, normalised: validation and test."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(self.y), self.batch_size):
            yield self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)


class TrainingLoader(InOrder):
    """The training batches and the state they draw from: the seed and the epoch (each epoch
    draws from ``default_rng((seed, epoch))``), or the plan's epoch."""

    def __init__(self, x: np.ndarray, y: np.ndarray, data: DataSpec, layout: str, seed: int, plan: Plan | None) -> None:
        super().__init__(x, y, data.batch_size)
        self.sampler, self.hflip = data.sampler, data.hflip
        self.width_axis = 3 if layout == "nchw" else 2
        self.seed, self.epoch = seed, 0
        self.plan = None if plan is None else (*epoch_arrays(plan), mask_arrays(plan))

    def __iter__(self) -> Iterator[Batch]:
        """One epoch, drawn when its first batch is asked for (as the book's sampler draws)."""
        epoch = self.epoch
        self.epoch += 1
        if self.plan is None:
            yield from training_batches(
                self.x, self.y, self.batch_size, self.sampler, self.hflip, self.seed, epoch, self.width_axis
            )
            return
        orders, all_flips, all_masks = self.plan
        order, flips, masks = orders[epoch], all_flips[epoch], tuple(mask[epoch] for mask in all_masks)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            x = self.x[chosen]
            if self.hflip:
                x = np.where(_along(flips[start : start + self.batch_size], x.ndim), np.flip(x, self.width_axis), x)
            if masks:
                yield (x, tuple(mask[start : start + self.batch_size] for mask in masks)), self.y[chosen]
            else:
                yield x, self.y[chosen]

    def reseed(self, seed: int) -> None:
        """Draw anew from ``seed``'s first epoch (as torch's ``set_seed`` reseeds its sampler),
        or rewind the plan to its first epoch: a plan is what the book draws after ``set_seed``."""
        self.seed, self.epoch = seed, 0

    def epochs_left(self) -> int | None:
        return None if self.plan is None else len(self.plan[0]) - self.epoch

    def state(self) -> dict[str, np.ndarray]:
        """The seed and epoch it draws from, or the plan's epoch (a checkpoint of the one is
        no checkpoint of the other)."""
        if self.plan is not None:
            return {"plan_epoch": np.asarray(self.epoch, np.int64)}
        return {"seed": np.asarray(self.seed, np.int64), "epoch": np.asarray(self.epoch, np.int64)}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        if self.plan is not None:
            self.epoch = int(state["plan_epoch"])
        else:
            self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def _along(flags: np.ndarray, ndim: int) -> np.ndarray:
    """Per-sample flags broadcast over an image's axes."""
    return flags.reshape(-1, *[1] * (ndim - 1))


def make_loaders(
    split: Split, data: DataSpec, loss: str, layout: str, seed: int, plan: Plan | None = None
) -> tuple[TrainingLoader, InOrder]:
    """Training and validation batches in ``layout``; a ``plan`` replaces the sampler and
    the random flips (lockstep mode)."""
    x, y = images(split.x_train, data, layout), targets(split.y_train, loss)
    train = TrainingLoader(x, y, data, layout, seed, plan)
    return train, InOrder(images(split.x_val, data, layout), targets(split.y_val, loss), data.batch_size)


def make_test_loader(split: Split, data: DataSpec, loss: str, layout: str) -> InOrder | None:
    """The test split as the validation split is served; None when the spec has no test split."""
    if split.x_test is None:
        return None
    return InOrder(images(split.x_test, data, layout), targets(split.y_test, loss), data.batch_size)
