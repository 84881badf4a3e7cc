"""The canonical arrays every backend starts from: uint8 ``(N, C, H, W)``, int64 labels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from common import cache, colors
from common.lines import generate_lines
from spec.schema import DatasetSpec

GENERATORS = {"lines": generate_lines, "colors": colors.generate_colors}


def class_names(kind: str, params: dict) -> tuple[str, ...]:
    if kind == "colors":
        return colors.CLASS_NAMES
    return ("parallel", "diagonal") if params["binary"] else ("parallel", "up", "down")


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 (N, C, H, W), read-only
    labels: np.ndarray  # int64 (N,), read-only
    classes: tuple[str, ...]


def load_dataset(spec: DatasetSpec) -> Dataset:
    """The dataset a spec names, from the cache (generated on first use)."""
    return _load(spec.kind, tuple(sorted(spec.params.items())))


@lru_cache(maxsize=8)
def _load(kind: str, params: tuple) -> Dataset:
    # One copy per process: torch and keras in the same process share these very bytes.
    kwargs = dict(params)
    key = cache.cache_key(kind, kwargs)
    arrays = cache.load_or_create(key, lambda: dict(zip(("images", "labels"), GENERATORS[kind](**kwargs))))
    for array in arrays.values():
        array.flags.writeable = False
    return Dataset(arrays["images"], arrays["labels"], class_names(kind, kwargs))
