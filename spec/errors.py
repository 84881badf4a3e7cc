"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class TwinspecError(Exception):
    """Bad input: ``run.py`` prints the message and exits with status 2."""


class SpecError(TwinspecError):
    """A spec that cannot work, located at the YAML line that causes it."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")
