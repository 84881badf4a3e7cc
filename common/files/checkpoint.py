"""The TensorFlow-family trainers' checkpoint file: one ``.npz`` of named arrays (the
model's and the optimizer's variables, the input pipeline's position) beside the training
history as JSON. Torch and Lightning write ``torch.save``'s own instead.

Only the arrays differ between Keras and TensorFlow, so the file itself is written and
read, and its fit checked, here, in numpy alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from common.errors import DataError, WriteError
from common.files.atomic import atomic_write
from common.files.npz import read_npz

_HOW = "save one with save_checkpoint()"


def write_checkpoint(filename: str | Path, history: dict, arrays: dict[str, np.ndarray]) -> None:
    """``history`` as JSON and ``arrays`` by name, written whole or not at all."""
    try:
        with atomic_write(Path(filename)) as handle:
            np.savez(handle, state=np.array(json.dumps(history)), **arrays)
    except OSError as exc:
        raise WriteError(filename, exc.strerror or str(exc)) from None


def read_checkpoint(filename: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The history (as the JSON holds it: the trainer checks it) and the arrays of a
    checkpoint; anything else is one ``DataError``."""
    arrays = read_npz(Path(filename), "checkpoint", _HOW)
    try:
        history = json.loads(str(arrays.pop("state")))
    except (KeyError, ValueError, RecursionError):  # a history nested too deep to parse is no history
        raise DataError(f"{filename} is not a checkpoint of this trainer: it has no readable history") from None
    return history, arrays


def group(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays saved under ``prefix/``, by the rest of their names."""
    return {key.partition("/")[2]: value for key, value in arrays.items() if key.startswith(f"{prefix}/")}


def numbered(prefix: str, values: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """``values`` named ``prefix/0``, ``prefix/1``... in order; :func:`in_order` reads them back."""
    return {f"{prefix}/{i}": value for i, value in enumerate(values)}


def in_order(arrays: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The arrays that :func:`numbered` wrote under ``prefix``, in their order."""
    saved = group(arrays, prefix)
    return [saved[str(i)] for i in range(len(saved))]


def check_fit(
    filename: str | Path,
    arrays: dict[str, np.ndarray],
    expected: dict[str, Sequence[tuple[tuple[int, ...], np.dtype]]],
    pipeline: dict[str, np.ndarray] | None,
) -> None:
    """Refuse, before anything is restored, a checkpoint whose numbered variables are not
    ``expected`` (by prefix: their number, each one's shape and dtype, and finite where they
    are floats) or whose pipeline state is not like ``pipeline`` (``None``: the trainer has no
    training loader to restore)."""
    for prefix, variables in expected.items():
        saved = group(arrays, prefix)
        if {key: value.shape for key, value in saved.items()} != {str(i): s for i, (s, _) in enumerate(variables)}:
            raise DataError(f"{filename} is not a checkpoint of this model: its {prefix} variables differ")
        for i, (_, dtype) in enumerate(variables):
            value = saved[str(i)]
            if value.dtype != np.dtype(dtype):
                raise DataError(f"{filename}: {prefix} variable {i} holds {value.dtype} values, not {np.dtype(dtype)}")
            if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                raise DataError(f"{filename}: {prefix} variable {i} holds values that are not finite numbers")
    if pipeline is not None:
        saved = group(arrays, "pipeline")
        if {k: (v.shape, v.dtype) for k, v in saved.items()} != {k: (v.shape, v.dtype) for k, v in pipeline.items()}:
            raise DataError(f"{filename} was saved with another kind of training loader")
