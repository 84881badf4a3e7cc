"""Synthetic images whose class is their colour, to catch channel-order bugs.

The lines datasets have one channel, so a column that confuses NCHW with NHWC, or RGB
with BGR, still trains on them. Here each image holds one random shape (a line or a
filled rectangle, of random position and size) over noise in all three channels, and the
class is the channel the shape is lit in. Shape and position carry no information, so a
model can only learn colour: permuting the channels of its inputs changes its answers.
With the default 28 x 28 images C (3) differs from H and W, so a transposed layout is a
shape error or a wrong result, never a silent no-op. Every listing of a spec on these
images prints this module's constants and functions as they stand: numpy alone.
"""

from __future__ import annotations

import numpy as np

from common.data.classes import COLORS

CLASS_NAMES = COLORS  # label c: the shape is lit in channel c

NOISE = 48  # background: uniform 0..47 in every channel
DIM = 96  # the shape's other two channels: 0..95
LIT = 176  # the shape's own channel: 176..255
JITTER = 16  # per-pixel noise on the shape, +-16: the lit channel stays strictly brightest


def shape_mask(rng: np.random.RandomState, size: int) -> np.ndarray:
    """Where the shape lies: a filled rectangle, or a line from one edge to the opposite one."""
    mask = np.zeros((size, size), dtype=bool)
    if rng.randint(2):  # a filled rectangle, a quarter to half the image on each side
        height, width = rng.randint(max(2, size // 4), size // 2 + 1, size=2)
        top = rng.randint(0, size - height + 1)
        left = rng.randint(0, size - width + 1)
        mask[top : top + height, left : left + width] = True
    else:  # a straight line across, from a random pixel of one edge to one of the opposite edge
        start, end = rng.randint(0, size, size=2)
        along = np.arange(size)
        across = np.rint(start + (end - start) * along / (size - 1)).astype(int)
        if rng.randint(2):
            mask[along, across] = True  # top to bottom
        else:
            mask[across, along] = True  # left to right
    return mask


def generate_colors(img_size: int, n_images: int, seed: int, n_classes: int = 3):
    """uint8 images ``(N, 3, S, S)`` (S at least 4) and int64 labels ``(N,)`` in
    ``n_classes`` (2: red, green; or 3) balanced classes: label c means the shape's pixels
    are brightest in channel c. Everything is drawn from a ``RandomState(seed)``."""
    rng = np.random.RandomState(seed)
    labels = rng.permutation(np.arange(n_images) % n_classes).astype(np.int64)
    images = rng.randint(0, NOISE, size=(n_images, 3, img_size, img_size)).astype(np.uint8)
    for image, label in zip(images, labels):
        mask = shape_mask(rng, img_size)
        colour = rng.randint(0, DIM, size=3)
        colour[label] = rng.randint(LIT, 256)
        jitter = rng.randint(-JITTER, JITTER + 1, size=(3, int(mask.sum())))
        image[:, mask] = np.clip(colour[:, np.newaxis] + jitter, 0, 255)
    return images, labels
