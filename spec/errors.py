"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any


def printable(text: str) -> str:
    """``text`` with every character that is not printable (newlines, NUL, ESC, bidi
    controls, lone surrogates...) written as its Python escape: what reaches a terminal,
    a one-line message or a comment of generated code stays one visible line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


EXCERPT_LENGTH = 80  # characters of a bad value an error message shows


class _Excerpt(reprlib.Repr):
    """``repr`` that stops early: a value built from YAML aliases can be exponentially large."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist = 3, 4, 6
        self.maxstring = self.maxother = EXCERPT_LENGTH

    def repr_LineDict(self, value: dict, level: int) -> str:  # reprlib dispatches on the type name
        return self.repr_dict(value, level)

    def repr_LineList(self, value: list, level: int) -> str:
        return self.repr_list(value, level)


def excerpt(value: Any) -> str:
    """A bounded, one-line ``repr`` of a value for an error message."""
    text = _Excerpt().repr(value)
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 3] + "..."


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
