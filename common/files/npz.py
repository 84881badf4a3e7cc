"""Reading ``.npz`` archives that may be damaged: every failure is one ``DataError``.

A flipped byte in a zip header or an npy header makes numpy and zipfile raise nearly
anything (``NotImplementedError`` for an unknown compression, ``RuntimeError`` for the
"encrypted" flag, ``SyntaxError`` from the header's literal, ``zlib.error``...), so the
reading itself is guarded as a whole, and each caller says what the file should be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import DataError
from spec.errors import special_file


def read_npz(path: Path, what: str, how: str) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``, read without pickle. ``what`` the file
    should be ("weights file") and ``how`` to make or get one end each message."""
    kind = special_file(path)
    if kind is not None:  # a FIFO would wait for a writer, a device never end
        raise DataError(f"{path} is {kind}, not a {what}; {how}")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if not magic.startswith((b"PK", b"\x93NUMPY")):  # numpy would call it pickled data
            raise DataError(f"{path} is not a {what}: it is not an .npz archive; {how}")
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path} holds one array, not a {what}; {how}")
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except FileNotFoundError:
        raise DataError(f"no {what} at {path}; {how}") from None
    except DataError:
        raise
    except Exception as exc:  # a damaged zip or npy header can raise nearly anything
        raise DataError(f"{path} is not a readable {what} ({_reason(exc)}); {how}") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
