"""The diagonal-lines generator reproduces the book's bytes (DESIGN.md test vectors)."""

import hashlib

import numpy as np
import pytest
from book_chapter4 import generate_dataset

from common.data.lines import generate_lines


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()[:16]


@pytest.mark.parametrize(
    "args, images_sha, labels_sha, counts",
    [
        ((5, 300, True, 13), "16ab38b032cde882", "933636049f3e6689", [104, 196]),
        ((10, 1000, False, 17), "564f1fc7f060b43c", "4df6d52dfd9a2184", [331, 352, 317]),
    ],
)
def test_design_vectors(args, images_sha, labels_sha, counts):
    images, labels = generate_lines(*args)
    size, n = args[0], args[1]
    assert images.shape == (n, 1, size, size) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert _digest(images) == images_sha
    assert _digest(labels) == labels_sha
    assert np.bincount(labels).tolist() == counts


def test_known_images():
    images, labels = generate_lines(5, 300, True, 13)
    vertical = np.zeros((5, 5), np.uint8)
    vertical[:, 2] = 255
    assert labels[0] == 0 and np.array_equal(images[0, 0], vertical)
    diagonal = np.zeros((5, 5), np.uint8)
    diagonal[[0, 1, 2, 3], [1, 2, 3, 4]] = 255
    assert labels[7] == 1 and np.array_equal(images[7, 0], diagonal)


@pytest.mark.parametrize("size, n, binary, seed", [(5, 300, True, 13), (10, 1000, False, 17), (7, 200, False, 3)])
def test_matches_the_books_generator(size, n, binary, seed):
    ours = generate_lines(size, n, binary, seed)
    books = generate_dataset(img_size=size, n_images=n, binary=binary, seed=seed)
    assert np.array_equal(ours[0], books[0])
    assert np.array_equal(ours[1], books[1])


def test_leaves_numpys_global_generator_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    generate_lines(5, 10, True, 13)
    assert np.random.rand() == expected
