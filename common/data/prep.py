"""Data preparation every column agrees on, in numpy: split, scale, normalise, flip, weights.

The split reproduces ``torch.utils.data.random_split`` after ``torch.manual_seed(seed)``,
so every column trains and validates on the same samples as the book.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from common.data.datasets import Dataset
from common.errors import DataError
from spec.schema import DataSpec


@dataclass(frozen=True)
class Split:
    """Scaled float32 images in [0, 1], ``(N, C, H, W)``, with int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: tuple[str, ...]
    # The test split, evaluated once after training and never before (None: the spec has none).
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """``torch.manual_seed(seed); random_split(range(n), fractions)``, in numpy: the lengths
    floored, the rest handed out one each from the first; the indices a ``torch.randperm(n)``,
    a Fisher-Yates pass driven by torch's generator, which is the MT19937 that numpy's
    ``RandomState(seed)`` is (its 32-bit words are ``randint(0, 2**32)``)."""
    lengths = [int(n * fraction) for fraction in fractions]  # floored: they are positive
    for i in range(n - sum(lengths)):
        lengths[i % len(lengths)] += 1
    words = np.random.RandomState(seed).randint(0, 2**32, size=max(n - 1, 0), dtype=np.uint64)
    perm = np.arange(n)
    for i, word in enumerate(words):
        j = i + int(word % (n - i))
        perm[i], perm[j] = perm[j], perm[i]
    return np.split(perm, np.cumsum(lengths)[:-1])


def _split(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """:func:`split_indices`, refused when a part would be empty."""
    parts = split_indices(n, fractions, seed)
    if min(len(part) for part in parts) == 0:
        raise DataError(f"splitting {n} samples by {list(fractions)} leaves an empty part; use more samples")
    return parts


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1], rounded exactly as the book's ``(images / 255).float()``."""
    return (images / 255).astype(np.float32)


def split_dataset(dataset: Dataset, data: DataSpec) -> Split:
    """The spec's split (``random_split`` by two or three fractions), except for a dataset
    with a test set of its own (MNIST, CIFAR-10): with two fractions that set is the
    validation split, as before; with three it is the test split, and the training set is
    split into training and validation by the first two fractions, rescaled to sum to 1
    (``[0.625, 0.125, 0.25]`` splits MNIST's 60,000 into 50,000 and 10,000)."""
    x, labels = scale(dataset.images), dataset.labels
    if dataset.val_images is not None:
        own_x, own_y = scale(dataset.val_images), dataset.val_labels
        if not data.has_test_split:
            return Split(x, labels, own_x, own_y, dataset.classes)
        f_train, f_val = data.split_fractions[:2]
        fractions = (f_train / (f_train + f_val), f_val / (f_train + f_val))
        train_idx, val_idx = _split(len(labels), fractions, data.split_seed)
        return Split(x[train_idx], labels[train_idx], x[val_idx], labels[val_idx], dataset.classes, own_x, own_y)
    parts = _split(len(labels), data.split_fractions, data.split_seed)
    test = (x[parts[2]], labels[parts[2]]) if data.has_test_split else (None, None)
    return Split(x[parts[0]], labels[parts[0]], x[parts[1]], labels[parts[1]], dataset.classes, *test)


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``(N, C, H, W)`` images, as the CIFAR slides compute them:
    the images stacked, viewed as ``(C, -1)``, then torch's ``mean(dim=1)`` and ``std(dim=1)``
    (with Bessel's correction, torch's default). Summed in float64, rounded to float32."""
    mean, std = [], []
    for c in range(x.shape[1]):
        channel = x[:, c]
        n = channel.size
        mu = channel.sum(dtype=np.float64) / n
        variance = np.square(channel - np.float32(mu)).sum(dtype=np.float64) / (n - 1)
        mean.append(float(np.float32(mu)))
        std.append(float(np.float32(np.sqrt(variance))))
    return tuple(mean), tuple(std)


def resolve_normalization(data: DataSpec, split: Split) -> DataSpec:
    """``data`` with ``normalize: auto`` turned into the training split's own mean and std
    (every other setting as it is): what the loaders of every column are given."""
    if data.normalize != "auto":
        return data
    mean, std = channel_stats(split.x_train)
    if min(std) == 0:
        raise DataError(f"normalize: auto: a channel of the training images is constant (std {std}); give mean and std")
    return dataclasses.replace(data, mean=mean, std=std)


def normalize(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Per-channel ``(x - mean) / std`` on ``(N, C, H, W)`` float32, as torchvision does it."""
    shape = (1, -1, 1, 1)
    return (x - np.asarray(mean, np.float32).reshape(shape)) / np.asarray(std, np.float32).reshape(shape)


def to_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Canonical ``(N, C, H, W)`` arrays in the layout a model consumes."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "nhwc" else x


def hflip(x: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Mirror the images of ``(N, C, H, W)`` whose entry in the boolean ``flip`` is set."""
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """One float32 weight per sample, 1 / (its class count): every class equally likely."""
    counts = np.bincount(labels)
    with np.errstate(divide="ignore"):
        class_weights = (1.0 / counts.astype(np.float32)).astype(np.float32)
    return class_weights[labels]
