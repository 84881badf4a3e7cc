"""common's numpy data preparation equals what torch and torchvision do to the same data."""

import numpy as np
import pytest
import torch
from book_chapter4 import make_balanced_sampler
from torch.utils.data import random_split
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from common.data.prep import balanced_weights, hflip, normalize, scale, split_indices
from common.replay.torch_random import TorchCPUGenerator


@pytest.mark.parametrize(
    "n, fractions, seed", [(300, [0.8, 0.2], 13), (1000, [0.8, 0.2], 13), (7, [0.5, 0.5], 3), (101, [0.7, 0.3], 0)]
)
def test_split_is_torchs_random_split(n, fractions, seed):
    torch.manual_seed(seed)
    expected = [list(part.indices) for part in random_split(range(n), fractions)]
    assert [part.tolist() for part in split_indices(n, tuple(fractions), seed)] == expected


def test_chapter4_split_starts_as_the_book():
    train, val = split_indices(300, (0.8, 0.2), 13)
    assert train[:6].tolist() == [118, 170, 148, 239, 226, 146]
    assert len(train) == 240 and len(val) == 60
    assert sorted([*train, *val]) == list(range(300))


def test_randperm_and_words_follow_torchs_generator():
    torch.manual_seed(2024)
    expected = torch.randperm(50).tolist()
    assert TorchCPUGenerator(2024).randperm(50).tolist() == expected


def test_scale_is_the_books_float_conversion():
    images = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    assert np.array_equal(scale(images), torch.as_tensor(images / 255).float().numpy())


def test_normalize_is_torchvisions():
    x = np.random.default_rng(0).random((4, 3, 5, 6), dtype=np.float32)
    mean, std = (0.5, 0.4, 0.3), (0.5, 0.2, 0.25)
    expected = np.stack([v2.Normalize(mean, std)(torch.as_tensor(img)).numpy() for img in x])
    assert np.array_equal(normalize(x, mean, std), expected)


def test_hflip_flips_only_the_chosen_images_along_width():
    x = np.random.default_rng(1).random((3, 2, 4, 5), dtype=np.float32)
    flip = np.array([True, False, True])
    out = hflip(x, flip)
    assert np.array_equal(out[0], F.horizontal_flip(torch.as_tensor(x[0])).numpy())
    assert np.array_equal(out[1], x[1])
    assert np.array_equal(out[2], x[2][..., ::-1])


def test_balanced_weights_are_the_books():
    labels = np.array([0, 1, 1, 1, 0, 1, 1], np.int64)
    sampler = make_balanced_sampler(torch.as_tensor(labels.reshape(-1, 1)).float())
    assert np.array_equal(
        torch.as_tensor(balanced_weights(labels), dtype=torch.double).numpy(), sampler.weights.numpy()
    )
