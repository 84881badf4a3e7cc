"""Data problems the user can fix: missing files, corrupt caches, impossible splits."""

from __future__ import annotations

from pathlib import Path

from spec.errors import TwinspecError


class DataError(TwinspecError):
    """A dataset that cannot be produced or read; the message says how to fix it."""


class WriteError(DataError):
    """A file that could not be written whole (a full disk, a size limit, a name taken
    meanwhile). It keeps ``path`` and ``reason`` apart, so that a run folder's writer can
    name the folder the user asked for rather than its hidden staging copy."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")

    def __reduce__(self) -> tuple:
        """Pickled as it was made: a family's worker sends it back whole (``common.runs.workers``)."""
        return type(self), (self.path, self.reason)
