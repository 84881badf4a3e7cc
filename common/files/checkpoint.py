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

HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_accuracy")
_HOW = "save one with save_checkpoint()"


def write_checkpoint(filename: str | Path, history: dict, arrays: dict[str, np.ndarray]) -> None:
    """``history`` (``HISTORY_KEYS``) as JSON and ``arrays`` by name, written whole or not at all."""
    try:
        with atomic_write(Path(filename)) as handle:
            np.savez(handle, state=np.array(json.dumps(history)), **arrays)
    except OSError as exc:
        raise WriteError(filename, exc.strerror or str(exc)) from None


def read_checkpoint(filename: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The history and the arrays of a checkpoint; anything else is one ``DataError``."""
    arrays = read_npz(Path(filename), "checkpoint", _HOW)
    try:
        history = json.loads(str(arrays.pop("state")))
    except (KeyError, ValueError):
        raise DataError(f"{filename} is not a checkpoint of this trainer: it has no readable history") from None
    missing = set(HISTORY_KEYS) - set(history) if isinstance(history, dict) else set(HISTORY_KEYS)
    if missing:
        raise DataError(f"{filename} is not a checkpoint of this trainer: it lacks {', '.join(sorted(missing))}")
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
    filename: str | Path, arrays: dict[str, np.ndarray], shapes: dict[str, Sequence], pipeline: Iterable[str] | None
) -> None:
    """Refuse, before anything is restored, a checkpoint whose numbered variables are not
    ``shapes`` (by prefix, in number and shape) or whose pipeline state has other keys
    than ``pipeline`` (``None``: the trainer has no training loader to restore)."""
    for prefix, expected in shapes.items():
        saved = {key: value.shape for key, value in group(arrays, prefix).items()}
        if saved != {str(i): tuple(shape) for i, shape in enumerate(expected)}:
            raise DataError(f"{filename} is not a checkpoint of this model: its {prefix} variables differ")
    if pipeline is not None and set(group(arrays, "pipeline")) != set(pipeline):
        raise DataError(f"{filename} was saved with another kind of training loader")
