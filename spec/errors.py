"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations

import os
import reprlib
import stat
from pathlib import Path
from typing import Any


def printable(text: str) -> str:
    """``text`` with every character that is not printable (newlines, NUL, ESC, bidi
    controls, lone surrogates...) written as its Python escape: what reaches a terminal,
    a one-line message or a comment of generated code stays one visible line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# What a path is when it is not a regular file, in the words of an error message.
_SPECIAL_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def special_file(path: Path | str) -> str | None:
    """What ``path`` is, in words ("a FIFO (named pipe)"), when it exists and is not a
    regular file (links followed); ``None`` for a regular file or nothing at all. Reading
    a FIFO waits for a writer that never comes and a device never ends; writing over one
    would put a file in its place: a file the user names is refused with what it is."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # nothing there (or a name no file can have)
        return None
    if stat.S_ISREG(mode):
        return None
    return next((words for is_kind, words in _SPECIAL_FILES if is_kind(mode)), "not a regular file")


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
