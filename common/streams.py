"""The command line's standard output, made to fail as one message: a reader that went
away (``run.py show | head``), a full disk (``> /dev/full``), a name the terminal's
encoding cannot show.

Python would print a traceback for the first two, and again at exit, when it flushes what
is left; for the third, ``print`` itself fails. Inside :func:`guarded_stdout` a failed
write is a :class:`StdoutClosed` or a :class:`StdoutFailed`; :func:`discard_stdout` then
sends what is left to ``/dev/null``, so that the exit is quiet too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from spec.errors import TwinspecError


class StdoutClosed(Exception):
    """Standard output's reader went away (a closed pipe): like SIGPIPE for a C program."""


class StdoutFailed(TwinspecError):
    """Standard output cannot be written (a full disk, an I/O error)."""


class _Guarded:
    """A text stream whose failed writes are ``StdoutClosed`` or ``StdoutFailed``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with _failures():
            return self._stream.write(text)

    def flush(self) -> None:
        with _failures():
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _failures() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        raise StdoutClosed from None
    except OSError as exc:
        raise StdoutFailed(f"cannot write the standard output: {exc.strerror or exc}") from None


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """``sys.stdout`` guarded, and written line by line: a file's buffer would otherwise be
    written, and fail, only as the interpreter exits, after the work; now the first line
    fails, before it. A character the stream's encoding lacks is written as its escape
    (``PYTHONIOENCODING=ascii``), never a failure."""
    stream = sys.stdout
    if hasattr(stream, "reconfigure"):  # not a test's StringIO
        stream.reconfigure(errors="backslashreplace", line_buffering=True)
    sys.stdout = _Guarded(stream)
    try:
        yield
        sys.stdout.flush()
    finally:
        sys.stdout = stream


def discard_stdout() -> None:
    """Point the standard output's file at ``/dev/null``: what is left in its buffer, and
    anything written later, goes nowhere instead of failing again at exit."""
    with contextlib.suppress(AttributeError, ValueError, OSError):  # a test's StringIO has no file
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
