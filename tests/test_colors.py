"""The colour set: deterministic, balanced, C != H, and learnable from colour alone."""

import hashlib
import itertools

import numpy as np
import pytest

from common.data.colors import CLASS_NAMES, generate_colors
from spec import SpecError, load_spec, resolve_spec


def _digest(*arrays: np.ndarray) -> str:
    return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()


def _softmax_regression(images, labels, steps=100, lr=1.0):
    """A tiny trained model (a linear layer and softmax, full-batch gradient descent)."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    weights, bias = np.zeros((x.shape[1], 3), np.float32), np.zeros(3, np.float32)
    onehot = np.eye(3, dtype=np.float32)[labels]
    for _ in range(steps):
        logits = x @ weights + bias
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        grad = (p / p.sum(axis=1, keepdims=True) - onehot) / len(x)
        weights -= lr * (grad.T @ x).T
        bias -= lr * grad.sum(axis=0)
    return lambda images: (images.reshape(len(images), -1).astype(np.float32) / 255 @ weights + bias).argmax(axis=1)


def test_shapes_dtypes_and_layout():
    images, labels = generate_colors(28, 30, seed=3)
    assert images.shape == (30, 3, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (30,) and labels.dtype == np.int64
    assert images.shape[1] != images.shape[2]  # C != H: a transposed layout cannot pass unnoticed
    assert set(labels.tolist()) == {0, 1, 2} and len(CLASS_NAMES) == 3


def test_pinned_bytes():
    # If this changes, the generator changed: bump common.data.cache.FORMAT_VERSION with it.
    images, labels = generate_colors(28, 300, seed=0)
    assert hashlib.sha256(images.tobytes()).hexdigest()[:16] == "fc628ce4f6577d7b"
    assert hashlib.sha256(labels.tobytes()).hexdigest()[:16] == "e004678e3838d666"


def test_deterministic_and_seeded():
    first, second = generate_colors(28, 50, seed=7), generate_colors(28, 50, seed=7)
    assert _digest(*first) == _digest(*second)
    assert _digest(*generate_colors(28, 50, seed=8)) != _digest(*first)


def test_leaves_numpy_global_generator_alone():
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    generate_colors(10, 20, seed=1)
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("n", [300, 301, 302])
def test_classes_are_balanced(n):
    _, labels = generate_colors(8, n, seed=0)
    counts = np.bincount(labels, minlength=3)
    assert counts.sum() == n and counts.max() - counts.min() <= 1


def test_class_is_the_brightest_channel():
    # The shape's lit channel is brighter than anything else in the image.
    images, labels = generate_colors(28, 200, seed=5)
    assert np.array_equal(images.max(axis=(2, 3)).argmax(axis=1), labels)


def test_colour_decides_the_class():
    images, labels = generate_colors(28, 900, seed=11)
    x_train, y_train, x_val, y_val = images[:600], labels[:600], images[600:], labels[600:]
    predict = _softmax_regression(x_train, y_train)
    assert (predict(x_val) == y_val).mean() >= 0.95
    for order in itertools.permutations(range(3)):
        if order != (0, 1, 2):  # every channel mix-up costs most of the accuracy
            permuted = (predict(x_val[:, list(order)]) == y_val).mean()
            assert permuted <= 0.45, (order, permuted)
    # Without colour (each pixel the mean of its channels) the shapes alone give chance.
    gray = lambda x: np.repeat(x.mean(axis=1, keepdims=True), 3, axis=1)  # noqa: E731
    assert (_softmax_regression(gray(x_train), y_train)(gray(x_val)) == y_val).mean() <= 0.45


def test_too_small_is_refused_at_the_spec_line(tmp_path):
    """A shape needs four pixels a side: the spec language refuses less, at its line."""
    path = tmp_path / "tiny.yaml"
    path.write_text(resolve_spec("cnn2").read_text().replace("img_size: 28", "img_size: 3"))
    assert path.read_text() != resolve_spec("cnn2").read_text()
    with pytest.raises(SpecError, match="img_size must be an integer of at least 4"):
        load_spec(path)
