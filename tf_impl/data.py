"""A ``tf.data`` pipeline with the book's semantics: balanced sampling, flips, normalisation.

The TensorFlow family's one pipeline: the Keras column's ``data`` re-exports it, and both
columns' trainers iterate it. Randomness comes from a ``tf.random.Generator`` seeded with
``seed``, so a run is reproducible from its seed alone, yet every epoch draws anew. In
lockstep mode the training dataset replays a batch plan from ``common.replay.plan`` instead,
epoch after epoch, and its batches carry the plan's dropout masks next to the images,
``((x, masks), y)``, for the lockstep model's train step. The training dataset comes inside
a :class:`TrainingLoader`, which owns the state it draws from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from common.data.prep import Split, balanced_weights, to_layout
from common.replay.plan import Plan, epoch_arrays, mask_arrays
from spec.schema import DataSpec
from tf_impl._tensorflow import tf


def _epoch_draws(split: Split, data: DataSpec, generator: tf.random.Generator):
    """A function that draws one epoch: the sample order and the flip decisions.

    Each call takes a fresh key from ``generator``, from which a few stateless vector ops
    draw the whole epoch: reproducible from the seed alone (TensorFlow's global seed plays
    no part), new every epoch, and far cheaper than one tf.data element per sample.
    """
    n = len(split.y_train)
    if data.sampler == "balanced":
        weights = balanced_weights(split.y_train).astype(np.float64)
        cdf = tf.constant(np.cumsum(weights) / weights.sum())

    def draw() -> tuple[tf.Tensor, tf.Tensor]:
        sample_key, flip_key = tf.unstack(generator.make_seeds(2), axis=1)
        if data.sampler == "balanced":  # with replacement, by inverse CDF, as WeightedRandomSampler
            u = tf.random.stateless_uniform([n], seed=sample_key, dtype=tf.float64)
            order = tf.searchsorted(cdf, u, side="left")
        elif data.sampler == "shuffle":
            order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=sample_key)
        else:
            order = tf.range(n)
        flips = tf.random.stateless_uniform([n], seed=flip_key) < data.hflip
        return order, flips

    return draw


def _plan_replays(plan: Plan, epoch: tf.Variable):
    """A function that returns the plan's next epoch, counted by ``epoch`` (the trainer
    checks, before it trains, that the plan holds enough: ``planned_epochs_left``): the
    sample order, the flips, and each dropout layer's masks."""
    arrays = [tf.constant(array) for array in (*epoch_arrays(plan), *mask_arrays(plan))]

    def draw() -> tuple[tf.Tensor, ...]:
        current = epoch.assign_add(1) - 1
        return tuple(tf.gather(array, current) for array in arrays)

    return draw


def _targets(y: np.ndarray, loss: str) -> np.ndarray:
    """BCE wants float ``(N, 1)`` targets; the multiclass losses want int64 ``(N,)``."""
    if loss in ("bce", "bce_logits"):
        return y.reshape(-1, 1).astype(np.float32)
    return y.astype(np.int64)


class TrainingLoader:
    """The training ``tf.data.Dataset`` and the state it draws from: its generator, or the
    plan's epoch counter (``dataset`` is what ``fit`` and the trainers iterate)."""

    def __init__(
        self,
        dataset: tf.data.Dataset,
        generator: tf.random.Generator | None = None,
        plan_epoch: tf.Variable | None = None,
        plan_epochs: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.generator = generator
        self.plan_epoch, self.plan_epochs = plan_epoch, plan_epochs

    @classmethod
    def of(cls, loader: tf.data.Dataset | TrainingLoader) -> TrainingLoader:
        """A dataset someone made, taken as it is: it draws from nothing a trainer reseeds."""
        return loader if isinstance(loader, TrainingLoader) else cls(loader)

    def __iter__(self):
        return iter(self.dataset)

    def reseed(self, seed: int) -> None:
        """Reseed the generator (as torch's ``set_seed`` does its sampler's), or rewind the plan
        to its first epoch: a plan is what the book draws after ``set_seed``."""
        if self.generator is not None:
            self.generator.reset_from_seed(seed)
        if self.plan_epoch is not None:
            self.plan_epoch.assign(0)

    def epochs_left(self) -> int | None:
        return None if self.plan_epoch is None else self.plan_epochs - int(self.plan_epoch.numpy())

    def state(self) -> dict[str, np.ndarray]:
        state = {}
        if self.generator is not None:
            state["generator"] = self.generator.state.numpy()
        if self.plan_epoch is not None:
            state["plan_epoch"] = self.plan_epoch.numpy()
        return state

    def restore(self, state: dict[str, np.ndarray]) -> None:
        if "generator" in state:
            self.generator.reset(state["generator"])
        if "plan_epoch" in state:
            self.plan_epoch.assign(state["plan_epoch"])


def make_loaders(
    split: Split, data: DataSpec, loss: str, layout: str, seed: int, plan: Plan | None = None
) -> tuple[TrainingLoader, tf.data.Dataset]:
    """Training and validation datasets of ``(x, y)`` batches in ``layout``; a ``plan``
    replaces the sampler and the random flips (lockstep mode)."""
    width_axis = 3 if layout == "nchw" else 2
    normalize = _normalizer(data, layout)

    def prepare(x: tf.Tensor, y: tf.Tensor, flip: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if data.hflip:  # a spec without flips: no select per batch
            x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[width_axis]), x)
        return normalize(x), y

    if plan is None:
        generator, plan_epoch = tf.random.Generator.from_seed(seed), None
        draw = _epoch_draws(split, data, generator)
    else:
        generator, plan_epoch = None, tf.Variable(0, dtype=tf.int64, trainable=False)
        draw = _plan_replays(plan, plan_epoch)
    x_train = tf.constant(to_layout(split.x_train, layout))
    y_train = tf.constant(_targets(split.y_train, loss))
    n_batches = math.ceil(len(split.y_train) / data.batch_size)
    train = (
        tf.data.Dataset.range(1)
        .flat_map(lambda _: tf.data.Dataset.from_tensor_slices(draw()).batch(data.batch_size))  # one epoch
        .apply(tf.data.experimental.assert_cardinality(n_batches))
        .map(lambda i, flip, *masks: _with_masks(prepare(tf.gather(x_train, i), tf.gather(y_train, i), flip), masks))
        .prefetch(tf.data.AUTOTUNE)
        .with_options(_pipeline_options())
    )
    loader = TrainingLoader(train, generator, plan_epoch, len(plan) if plan else None)
    return loader, _in_order(split.x_val, split.y_val, data, loss, layout)


def _pipeline_options() -> tf.data.Options:
    """Options for every dataset the column makes.

    No autotuning: its model thread sleeps on a timer that doubles up to 60 s, and an
    iterator that Python's cyclic garbage collector frees (one that an object in a reference
    cycle holds, as the tf trainer holds its own) waits for that thread's next wake, which
    stops the process for up to a minute at whatever allocation set the collector off.
    These pipelines gather from tensors in memory, with nothing to tune.

    No injected prefetch: the trainer iterates the training dataset repeated, one iterator
    for all the epochs of a ``train`` call, and the next repetition draws its epoch when it
    starts; tf.data's default ``inject_prefetch`` would put a prefetch above the repetition
    and draw an epoch early, so that a checkpoint saved the generator one epoch on."""
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    return options


def _in_order(x: np.ndarray, y: np.ndarray, data: DataSpec, loss: str, layout: str) -> tf.data.Dataset:
    """Batches of a split in order, normalised once, up front: validation and test. (A
    ``map`` would instantiate its function again at every epoch's iterator, some 5 ms.)"""
    x = _normalizer(data, layout)(tf.constant(to_layout(x, layout)))
    batches = tf.data.Dataset.from_tensor_slices((x, _targets(y, loss))).batch(data.batch_size)
    return batches.with_options(_pipeline_options())


def make_test_loader(split: Split, data: DataSpec, loss: str, layout: str) -> tf.data.Dataset | None:
    """The test split as the validation split is served (in order, normalised, no flips);
    None when the spec has no test split."""
    if split.x_test is None:
        return None
    return _in_order(split.x_test, split.y_test, data, loss, layout)


def _normalizer(data: DataSpec, layout: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The spec's per-channel normalisation, as torchvision's Normalize: ``(x - mean) / std``
    (``normalize: auto`` already resolved to the training split's statistics); or none."""
    if data.mean is None:
        return tf.identity
    shape = [1, -1, 1, 1] if layout == "nchw" else [1, 1, 1, -1]
    mean, std = (tf.reshape(tf.constant(values, tf.float32), shape) for values in (data.mean, data.std))
    return lambda x: (x - mean) / std


def _with_masks(batch: tuple[tf.Tensor, tf.Tensor], masks: tuple[tf.Tensor, ...]) -> tuple:
    """A training batch, with the plan's dropout masks beside its images when there are any."""
    x, y = batch
    return ((x, masks), y) if masks else (x, y)


def numpy_batches(loader: tf.data.Dataset | TrainingLoader):
    """A loader's batches as numpy arrays."""
    return (loader.dataset if isinstance(loader, TrainingLoader) else loader).as_numpy_iterator()
