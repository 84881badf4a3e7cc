"""The TensorFlow family's tf.data pipeline (Keras' and tf's) has the book's semantics,
checked against common's numpy."""

import dataclasses

import numpy as np
import pytest

from common.data.datasets import load_dataset
from common.data.prep import Split, hflip, normalize, split_dataset
from keras_impl.data import make_loaders, numpy_batches
from spec import load_spec, resolve_spec


@pytest.fixture(scope="module")
def chapter4():
    spec = load_spec(resolve_spec("logistic"))
    return spec, split_dataset(load_dataset(spec.data.dataset), spec.data)


def _epoch(dataset):
    xs, ys = zip(*numpy_batches(dataset))
    return np.concatenate(xs), np.concatenate(ys)


def _find(sample, candidates):
    """Indices of ``candidates`` equal to ``sample``."""
    return np.flatnonzero((candidates == sample).reshape(len(candidates), -1).all(axis=1))


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_validation_is_normalised_in_order(chapter4, layout):
    spec, split = chapter4
    _, val = make_loaders(split, spec.data, "bce", layout, seed=0)
    x, y = _epoch(val)
    expected = normalize(split.x_val, spec.data.mean, spec.data.std)
    assert np.array_equal(x, expected.transpose(0, 2, 3, 1) if layout == "nhwc" else expected)
    assert np.array_equal(y.ravel(), split.y_val) and y.shape == (60, 1)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_training_samples_are_split_samples_flipped_with_probability_p(chapter4, p):
    spec, _ = chapter4
    rng = np.random.default_rng(3)
    x = rng.random((48, 2, 3, 5), dtype=np.float32)  # distinct, asymmetric, C > 1
    labels = np.arange(48) % 2
    split = Split(x, labels, x[:4], labels[:4], ("a", "b"))
    data = dataclasses.replace(spec.data, hflip=p, mean=(0.5, 0.25), std=(0.5, 0.5))
    train, _ = make_loaders(split, data, "bce", "nchw", seed=1)
    plain = normalize(x, data.mean, data.std)
    flipped = hflip(plain, np.ones(len(x), bool))
    seen = []
    for _ in range(5):
        batch_x, batch_y = _epoch(train)
        assert batch_x.shape == (48, 2, 3, 5)
        for sample, label in zip(batch_x, batch_y.ravel()):
            (index,) = np.union1d(_find(sample, plain), _find(sample, flipped))
            assert label == labels[index]
            seen.append(len(_find(sample, flipped)) == 1)
    assert np.mean(seen) == pytest.approx(p, abs=0.1)


def test_sampling_is_balanced_with_replacement_and_new_each_epoch(chapter4):
    spec, split = chapter4
    train, _ = make_loaders(split, spec.data, "bce", "nhwc", seed=7)
    epochs = [_epoch(train)[1].ravel() for _ in range(20)]
    share = np.mean(np.concatenate(epochs))
    assert np.bincount(split.y_train)[1] / len(split.y_train) > 0.6  # the split itself is unbalanced
    assert 0.45 < share < 0.55  # the sampler balances it
    assert any(not np.array_equal(epochs[0], e) for e in epochs[1:])
    again, _ = make_loaders(split, spec.data, "bce", "nhwc", seed=7)
    assert np.array_equal(_epoch(again)[1].ravel(), epochs[0])  # same seed, same first epoch


def test_multiclass_targets_are_integer_labels(chapter4):
    spec, split = chapter4
    _, val = make_loaders(split, spec.data, "cross_entropy", "nhwc", seed=0)
    _, y = _epoch(val)
    assert y.dtype == np.int64 and y.shape == (60,)


def test_randomness_depends_on_the_seed_alone(chapter4):
    """Not on TensorFlow's global seed, nor on what ran before in the process."""
    import tensorflow as tf

    spec, split = chapter4
    firsts = []
    for global_seed in (1, 2):
        tf.random.set_seed(global_seed)
        train, _ = make_loaders(split, spec.data, "bce", "nhwc", seed=5)
        firsts.append(_epoch(train))
    assert all(np.array_equal(a, b) for a, b in zip(*firsts))
