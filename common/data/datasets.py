"""The canonical arrays every column starts from: uint8 ``(N, C, H, W)``, int64 labels.

Generated sets (the book's lines, the colour set) and the user's files (``--data``) are
read through the same cache, so that every column, in any process, sees the same bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from common.data import cache, colors, loaders
from common.data.classes import class_names
from common.data.lines import generate_lines
from common.errors import DataError
from spec.schema import DatasetSpec, SourceSpec

GENERATORS = {"lines": generate_lines, "colors": colors.generate_colors}


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 (N, C, H, W), read-only
    labels: np.ndarray  # int64 (N,), read-only
    classes: tuple[str, ...]
    # The validation split a dataset comes with (MNIST's and CIFAR-10's test sets), if any.
    val_images: np.ndarray | None = None
    val_labels: np.ndarray | None = None


def load_dataset(spec: DatasetSpec) -> Dataset:
    """The dataset a spec names, from the cache (generated or read on first use)."""
    return _load(spec.kind, tuple(sorted(spec.params.items())))


def user_dataset(source: SourceSpec, path: Path) -> DatasetSpec:
    """Describe the user's files at ``path`` as the spec's dataset (shape and classes read from them)."""
    params = {"path": str(Path(path).resolve()), **source.params}
    data = _load(source.kind, tuple(sorted(params.items())))
    if len(data.classes) < 2:
        raise DataError(f"--data {path}: one class ({', '.join(data.classes)}); a classifier needs two or more")
    channels, height, width = data.images.shape[1:]
    return DatasetSpec(source.kind, params, (channels, height, width), len(data.classes))


def _read_user_files(kind: str, params: dict) -> dict[str, np.ndarray]:
    path = Path(params["path"])
    if kind == "image_folder":
        images, labels, classes = loaders.load_image_folder(path, tuple(params["size"]), params["channels"])
        return {"images": images, "labels": labels, "classes": np.array(classes)}
    if kind == "mnist":
        (images, labels), (val_images, val_labels), classes = loaders.load_mnist_npz(path)
    else:
        (images, labels), (val_images, val_labels), classes = loaders.load_cifar10(path, params["classes"])
    return {
        "images": images,
        "labels": labels,
        "val_images": val_images,
        "val_labels": val_labels,
        "classes": np.array(classes),
    }


def _files_read(kind: str, path: Path) -> list[Path]:
    """Exactly the files the loader of ``kind`` reads from ``path``, links followed."""
    if kind == "image_folder":
        files, _ = loaders.image_folder_files(path)
        return [file for file, _ in files]
    if kind == "cifar10":
        folder = path / loaders.CIFAR10_FOLDER if (path / loaders.CIFAR10_FOLDER).is_dir() else path
        return [folder / name for name in (*loaders.CIFAR10_TRAIN, loaders.CIFAR10_TEST, loaders.CIFAR10_META)]
    return [path]


def _fingerprint(kind: str, path: Path) -> str:
    """Name, label folder, size and modification time of every file the loader reads (the
    files the links lead to): a changed, added or removed file is a new key."""
    digest = hashlib.sha256()
    for file in _files_read(kind, path):
        stat = file.stat()
        digest.update(os.fsencode(file) + f":{stat.st_size}:{stat.st_mtime_ns}\n".encode())  # a name may not be UTF-8
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _load(kind: str, params: tuple) -> Dataset:
    # One copy per process: torch and keras in the same process share these very bytes.
    kwargs = dict(params)
    if kind in GENERATORS:
        key = cache.cache_key(kind, kwargs)
        arrays = cache.load_or_create(key, lambda: dict(zip(("images", "labels"), GENERATORS[kind](**kwargs))))
        classes = class_names(kind, kwargs)
    else:
        try:
            fingerprint = _fingerprint(kind, Path(kwargs["path"]))
        except OSError as exc:
            _read_user_files(kind, kwargs)  # the loader says what is missing and how to supply it
            raise DataError(f"cannot read {exc.filename}: {exc.strerror}") from None
        key = cache.cache_key(kind, {**kwargs, "files": fingerprint})
        arrays = cache.load_or_create(key, lambda: _read_user_files(kind, kwargs))
        classes = tuple(str(name) for name in arrays.pop("classes"))
    for array in arrays.values():
        array.flags.writeable = False
    return Dataset(classes=classes, **arrays)
