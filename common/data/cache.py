"""An on-disk cache of generated datasets, keyed by their parameters.

Writes are atomic (temporary file, then rename) so that two processes generating the
same dataset never see half a file; reads verify a checksum so that a damaged file is
reported instead of silently feeding wrong pixels to a model, and the key the file was
written under, so that another dataset's file copied over it is reported too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import DataError
from common.files.atomic import atomic_write
from common.files.npz import read_npz

# Bump when a generator changes its output, so that stale caches are not reused.
FORMAT_VERSION = 2  # 2: each file holds its own key


def cache_dir() -> Path:
    """``$TWINSPEC_CACHE``, else ``$XDG_CACHE_HOME/twinspec``, else ``~/.cache/twinspec``."""
    if os.environ.get("TWINSPEC_CACHE"):
        return Path(os.environ["TWINSPEC_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "twinspec"


def cache_key(kind: str, params: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "params": params, "version": FORMAT_VERSION}, sort_keys=True)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_or_create(key: str, create: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays cached under ``key``, generating and storing them on first use."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        return _read(path, key)
    arrays = create()
    _write(path, key, arrays)
    return arrays


def _read(path: Path, key: str) -> dict[str, np.ndarray]:
    fix = f"delete {path} to have it generated again"
    arrays = read_npz(path, "dataset cache", fix)
    stored, stored_key = arrays.pop("checksum", None), arrays.pop("key", None)
    if stored_key is None or stored_key.shape != () or str(stored_key) != key:
        found = "no key" if stored_key is None else f"key {str(stored_key)[:40]}"
        raise DataError(f"dataset cache {path} holds another dataset ({found}, not {key}); {fix}")
    if stored is None or str(stored) != checksum(arrays):
        raise DataError(f"dataset cache {path} is corrupt (checksum mismatch); {fix}")
    return arrays


def _write(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            np.savez(handle, checksum=np.array(checksum(arrays)), key=np.array(key), **arrays)
    except OSError as exc:
        raise DataError(
            f"cannot write the dataset cache {path} ({exc.strerror or exc}); set TWINSPEC_CACHE to a writable directory"
        ) from None
