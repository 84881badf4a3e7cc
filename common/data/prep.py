"""Data preparation both backends agree on, in numpy: split, scale, normalise, flip, weights.

The split reproduces ``torch.utils.data.random_split`` after ``torch.manual_seed(seed)``,
so every backend trains and validates on the same samples as the book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.data.datasets import Dataset
from common.errors import DataError
from common.replay.torch_random import TorchCPUGenerator, split_lengths
from spec.schema import DataSpec


@dataclass(frozen=True)
class Split:
    """Scaled float32 images in [0, 1], ``(N, C, H, W)``, with int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: tuple[str, ...]


def split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """``random_split(range(n), fractions)`` after ``torch.manual_seed(seed)``."""
    lengths = split_lengths(n, list(fractions))
    if min(lengths) == 0:
        raise DataError(f"splitting {n} samples by {list(fractions)} leaves an empty part; use more samples")
    perm = TorchCPUGenerator(seed).randperm(n)
    bounds = np.cumsum([0, *lengths])
    return [perm[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1], rounded exactly as the book's ``(images / 255).float()``."""
    return (images / 255).astype(np.float32)


def split_dataset(dataset: Dataset, data: DataSpec) -> Split:
    """The dataset's own validation split if it has one (MNIST, CIFAR-10), else the spec's."""
    if dataset.val_images is not None:
        return Split(
            scale(dataset.images), dataset.labels, scale(dataset.val_images), dataset.val_labels, dataset.classes
        )
    train_idx, val_idx = split_indices(len(dataset.labels), data.split_fractions, data.split_seed)
    x = scale(dataset.images)
    return Split(x[train_idx], dataset.labels[train_idx], x[val_idx], dataset.labels[val_idx], dataset.classes)


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
