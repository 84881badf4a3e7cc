"""The canonical arrays every backend starts from: uint8 ``(N, C, H, W)``, int64 labels.

Generated sets (the book's lines, the colour set) and the user's files (``--data``) are
read through the same cache, so that every backend, in any process, sees the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from common.data import cache, colors, loaders
from common.data.lines import generate_lines
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
    channels, height, width = data.images.shape[1:]
    return DatasetSpec(source.kind, params, (channels, height, width), len(data.classes))


def _class_names(kind: str, params: dict) -> tuple[str, ...]:
    if kind == "colors":
        return colors.CLASS_NAMES[: params["n_classes"]]
    return ("parallel", "diagonal") if params["binary"] else ("parallel", "up", "down")


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


def _fingerprint(path: Path) -> str:
    """Size and modification time of every file under ``path``: a changed file is a new key."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path) if file != path else ''}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _load(kind: str, params: tuple) -> Dataset:
    # One copy per process: torch and keras in the same process share these very bytes.
    kwargs = dict(params)
    if kind in GENERATORS:
        key = cache.cache_key(kind, kwargs)
        arrays = cache.load_or_create(key, lambda: dict(zip(("images", "labels"), GENERATORS[kind](**kwargs))))
        classes = _class_names(kind, kwargs)
    else:
        if not Path(kwargs["path"]).exists():
            _read_user_files(kind, kwargs)  # the loader says what is missing and how to supply it
        key = cache.cache_key(kind, {**kwargs, "files": _fingerprint(Path(kwargs["path"]))})
        arrays = cache.load_or_create(key, lambda: _read_user_files(kind, kwargs))
        classes = tuple(str(name) for name in arrays.pop("classes"))
    for array in arrays.values():
        array.flags.writeable = False
    return Dataset(classes=classes, **arrays)
