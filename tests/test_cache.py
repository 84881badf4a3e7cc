"""The dataset cache: generated once, atomic, checksummed, shared across processes."""

import hashlib
import os

import numpy as np
import pytest
from conftest import run_python

from common.data import cache
from common.data.datasets import load_dataset
from common.errors import DataError
from spec import load_spec, resolve_spec


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINSPEC_CACHE", str(tmp_path))
    return tmp_path


def _arrays():
    return {"images": np.arange(24, dtype=np.uint8).reshape(2, 1, 3, 4), "labels": np.array([0, 1], np.int64)}


def test_generates_once_then_reads(cache_dir):
    calls = []
    first = cache.load_or_create("k", lambda: calls.append(1) or _arrays())
    second = cache.load_or_create("k", lambda: calls.append(1) or _arrays())
    assert calls == [1]
    assert all(np.array_equal(first[name], second[name]) for name in first)
    assert [p.name for p in cache_dir.iterdir()] == ["k.npz"]  # no temporary file left behind


def test_key_depends_on_every_parameter():
    base = {"img_size": 5, "n_images": 300, "binary": True, "seed": 13}
    keys = {cache.cache_key("lines", base)} | {
        cache.cache_key("lines", {**base, k: v})
        for k, v in [("img_size", 6), ("n_images", 301), ("binary", False), ("seed", 14)]
    }
    assert len(keys) == 5


def test_corrupt_file_is_reported_with_its_path(cache_dir):
    cache.load_or_create("k", _arrays)
    path = cache_dir / "k.npz"
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["images"] = arrays["images"].copy()
    arrays["images"][0, 0, 0, 0] ^= 1  # one flipped bit, a valid npz otherwise
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=r"k\.npz is corrupt.*delete"):
        cache.load_or_create("k", _arrays)


def test_truncated_file_is_reported(cache_dir):
    cache.load_or_create("k", _arrays)
    path = cache_dir / "k.npz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match=r"k\.npz is not a readable dataset cache"):
        cache.load_or_create("k", _arrays)


def test_unwritable_cache_is_reported(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TWINSPEC_CACHE", str(blocker / "sub"))
    with pytest.raises(DataError, match="TWINSPEC_CACHE"):
        cache.load_or_create("k", _arrays)


def test_another_process_reads_the_same_bytes():
    dataset = load_dataset(load_spec(resolve_spec("relu")).data.dataset)
    ours = hashlib.sha256(dataset.images.tobytes() + dataset.labels.tobytes()).hexdigest()
    code = (
        "import hashlib; from common.data.datasets import load_dataset; from spec import load_spec, resolve_spec;"
        "d = load_dataset(load_spec(resolve_spec('relu')).data.dataset);"
        "print(hashlib.sha256(d.images.tobytes() + d.labels.tobytes()).hexdigest())"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ours
    assert len(list(os.scandir(os.environ["TWINSPEC_CACHE"]))) >= 1


def test_arrays_are_read_only():
    dataset = load_dataset(load_spec(resolve_spec("relu")).data.dataset)
    with pytest.raises(ValueError):
        dataset.images[0, 0, 0, 0] = 1
