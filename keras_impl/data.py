"""A ``tf.data`` pipeline with the book's semantics: balanced sampling, flips, normalisation.

Randomness comes from a ``tf.random.Generator`` seeded with ``seed``, so a run is
reproducible from its seed alone, yet every epoch draws anew.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from common.prep import Split, balanced_weights, to_layout
from spec.schema import DataSpec


def _epoch_plans(split: Split, data: DataSpec, seed: int) -> tf.data.Dataset:
    """Per epoch, the sample indices and flip decisions of every training batch.

    A ``tf.random.Generator`` seeded with ``seed`` hands each epoch a fresh key, from
    which a few stateless vector ops draw the whole epoch: reproducible from ``seed``
    alone (TensorFlow's global seed plays no part), new every epoch, and far cheaper
    than one tf.data element per sample.
    """
    n = len(split.y_train)
    generator = tf.random.Generator.from_seed(seed)
    if data.sampler == "balanced":
        weights = balanced_weights(split.y_train).astype(np.float64)
        cdf = tf.constant(np.cumsum(weights) / weights.sum())

    def plan(_: tf.Tensor) -> tf.data.Dataset:
        sample_key, flip_key = tf.unstack(generator.make_seeds(2), axis=1)
        if data.sampler == "balanced":  # with replacement, by inverse CDF, as WeightedRandomSampler
            u = tf.random.stateless_uniform([n], seed=sample_key, dtype=tf.float64)
            indices = tf.searchsorted(cdf, u, side="left")
        elif data.sampler == "shuffle":
            indices = tf.random.experimental.stateless_shuffle(tf.range(n), seed=sample_key)
        else:
            indices = tf.range(n)
        flips = tf.random.stateless_uniform([n], seed=flip_key) < data.hflip
        return tf.data.Dataset.from_tensor_slices((indices, flips)).batch(data.batch_size)

    epoch = tf.data.Dataset.range(1).flat_map(plan)
    return epoch.apply(tf.data.experimental.assert_cardinality(math.ceil(n / data.batch_size)))


def _targets(y: np.ndarray, loss: str) -> np.ndarray:
    """BCE wants float ``(N, 1)`` targets; the multiclass losses want int64 ``(N,)``."""
    if loss in ("bce", "bce_logits"):
        return y.reshape(-1, 1).astype(np.float32)
    return y.astype(np.int64)


def make_loaders(
    split: Split, data: DataSpec, loss: str, layout: str, seed: int
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Training and validation datasets of ``(x, y)`` batches in ``layout``."""
    channel_axis, width_axis = (1, 3) if layout == "nchw" else (3, 2)
    normalize = None
    if data.mean is not None:
        variance = [s * s for s in data.std]
        normalize = keras.layers.Normalization(axis=channel_axis, mean=data.mean, variance=variance)
        normalize.build((None, *to_layout(split.x_val[:1], layout).shape[1:]))  # eagerly, not inside tf.data

    def prepare(x: tf.Tensor, y: tf.Tensor, flip: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        if flip is not None:
            x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[width_axis]), x)
        if normalize is not None:
            x = normalize(x)
        return x, y

    x_train = tf.constant(to_layout(split.x_train, layout))
    y_train = tf.constant(_targets(split.y_train, loss))
    train = (
        _epoch_plans(split, data, seed)
        .map(lambda i, flip: prepare(tf.gather(x_train, i), tf.gather(y_train, i), flip))
        .prefetch(tf.data.AUTOTUNE)
    )
    val = (
        tf.data.Dataset.from_tensor_slices((to_layout(split.x_val, layout), _targets(split.y_val, loss)))
        .batch(data.batch_size)
        .map(prepare)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )
    return train, val
