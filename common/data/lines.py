"""The diagonal-lines images of *Deep Learning with PyTorch Step-by-Step*, byte for byte.

The book draws its random numbers from numpy's legacy global generator; we use a
``RandomState`` with the same seed, which yields the same stream without touching the
caller's global state. Every listing prints these two functions as they stand: they are
numpy alone, and part of the lesson.
"""

from __future__ import annotations

import numpy as np


def draw_line(size: int, start: int, target: int) -> np.ndarray:
    """One image: a lit line (255) on black, anchored at row ``start`` (> 0) or at column
    ``-start``; target 0 a parallel line, 1 an "up" diagonal, 2 a "down" diagonal."""
    img = np.zeros((size, size), dtype=np.uint8)
    if start > 0:  # anchored at a row
        row = start
        if target == 0:
            img[row, :] = 255
        elif target == 1:  # "up" diagonal
            k = np.arange(row + 1)
            img[row - k, k] = 255
        else:  # "down" diagonal
            k = np.arange(size - row)
            img[row + k, k] = 255
    else:  # anchored at a column
        col = -start
        if target == 0:
            img[:, col] = 255
        else:
            col = max(col, 1)  # the book's diagonals never start in column 0
            k = np.arange(size - col)
            rows = size - 1 - k if target == 1 else k
            img[rows, col + k] = 255
    return img


def generate_lines(img_size: int, n_images: int, binary: bool, seed: int):
    """uint8 images ``(N, 1, S, S)`` and int64 labels ``(N,)``: 0 parallel, 1 up-diagonal,
    2 down-diagonal; with ``binary``, diagonal or not."""
    rng = np.random.RandomState(seed)
    starts = rng.randint(-(img_size - 1), img_size, size=n_images)
    targets = rng.randint(0, 3, size=n_images)
    images = np.stack([draw_line(img_size, int(s), int(t)) for s, t in zip(starts, targets)])
    labels = (targets > 0) if binary else targets
    return images[:, np.newaxis], labels.astype(np.int64)
