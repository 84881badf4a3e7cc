"""A ``tf.data`` pipeline with the book's semantics: balanced sampling, flips, normalisation.

The TensorFlow family's one pipeline: the Keras column's ``data`` re-exports it, and both
columns' trainers iterate it. Its training batches are ``semantics.training_batches``
(torch's samplers, which tf.data lacks, and which the listings print): randomness comes
from a ``tf.random.Generator`` seeded with ``seed``, so a run is reproducible from its seed
alone, yet every epoch draws anew. In
lockstep mode the training dataset replays a batch plan from ``common.replay.plan`` instead,
epoch after epoch, and its batches carry the plan's dropout masks next to the images,
``((x, masks), y)``, for the lockstep model's train step. The training dataset comes inside
a :class:`TrainingLoader`, which owns the state it draws from.
"""

from __future__ import annotations

import math

import numpy as np

from common.data.prep import Split, normalize, to_layout
from common.replay.plan import Plan, epoch_arrays, mask_arrays
from spec.schema import DataSpec
from tf_impl._tensorflow import tf
from tf_impl.semantics import training_batches


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
    """Training and validation datasets of ``(x, y)`` batches in ``layout``, normalised in
    numpy first (what the listings do); a ``plan`` replaces the sampler and the random flips
    (lockstep mode)."""
    width_axis = 3 if layout == "nchw" else 2
    x_train, y_train = _normalized(split.x_train, data, layout), _targets(split.y_train, loss)
    val = _in_order(split.x_val, split.y_val, data, loss, layout)
    if plan is None:
        dataset, generator = training_batches(
            x_train, y_train, data.batch_size, data.sampler, data.hflip, seed, width_axis
        )
        return TrainingLoader(dataset, generator), val
    plan_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    draw = _plan_replays(plan, plan_epoch)
    images, labels = tf.constant(x_train), tf.constant(y_train)

    def planned(order: tf.Tensor, flips: tf.Tensor, *masks: tf.Tensor) -> tuple:
        x_batch = tf.gather(images, order)
        if data.hflip:  # a spec without flips: no select per batch
            x_batch = tf.where(flips[:, None, None, None], tf.reverse(x_batch, axis=[width_axis]), x_batch)
        return _with_masks((x_batch, tf.gather(labels, order)), masks)

    train = (
        tf.data.Dataset.range(1)
        .flat_map(lambda _: tf.data.Dataset.from_tensor_slices(draw()).batch(data.batch_size))  # one epoch
        .apply(tf.data.experimental.assert_cardinality(math.ceil(len(y_train) / data.batch_size)))
        .map(planned)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(_pipeline_options())
    )
    return TrainingLoader(train, None, plan_epoch, len(plan)), val


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
    batches = tf.data.Dataset.from_tensor_slices((_normalized(x, data, layout), _targets(y, loss)))
    return batches.batch(data.batch_size).with_options(_pipeline_options())


def make_test_loader(split: Split, data: DataSpec, loss: str, layout: str) -> tf.data.Dataset | None:
    """The test split as the validation split is served (in order, normalised, no flips);
    None when the spec has no test split."""
    if split.x_test is None:
        return None
    return _in_order(split.x_test, split.y_test, data, loss, layout)


def _normalized(x: np.ndarray, data: DataSpec, layout: str) -> np.ndarray:
    """The images in ``layout``, normalised as torchvision's Normalize does, ``(x - mean) / std``
    per channel (``normalize: auto`` already resolved to the training split's statistics)."""
    return to_layout(x if data.mean is None else normalize(x, data.mean, data.std), layout)


def _with_masks(batch: tuple[tf.Tensor, tf.Tensor], masks: tuple[tf.Tensor, ...]) -> tuple:
    """A training batch, with the plan's dropout masks beside its images when there are any."""
    x, y = batch
    return ((x, masks), y) if masks else (x, y)


def numpy_batches(loader: tf.data.Dataset | TrainingLoader):
    """A loader's batches as numpy arrays."""
    return (loader.dataset if isinstance(loader, TrainingLoader) else loader).as_numpy_iterator()
