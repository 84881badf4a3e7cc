"""Processes per family: a command that needs several families runs each family's columns
in a worker process of its own, and gathers their plain-data results.

Frameworks that share a process must be made safe for each other (DESIGN.md, "Hazards"),
and some cannot share one at all: Keras reads its backend once, at import, so Keras on
TensorFlow and Keras on JAX never meet in one interpreter. So ``compare``, ``parity`` and
``report`` open :func:`per_family` over their columns; while it is open, :func:`in_family`
sends each call to its family's worker (started when first asked, with the family's
environment set before anything imports a framework), and the worker sends back what the
call returned: a ``RunResult``, an array, bytes. What a worker prints comes back to this
process's standard output, in order. With one family that can load here, or none open, a
call runs here; a family that cannot (Keras on JAX in a process that runs Keras on
TensorFlow already: the test session's) always computes in a worker.

Only module-level functions travel (they are pickled by name), with their arguments and
results: specs, plain data and numpy arrays, between our own processes, never a user's file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from common import columns

CONTEXT = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of ours loaded yet
_open: dict[str, _Worker] | None = None  # family -> its worker, while per_family is open


class WorkerDied(RuntimeError):
    """A worker ended without an answer (killed, or its framework crashed the interpreter)."""


class _Worker:
    """One family's process: calls go in, prints and one answer per call come back."""

    def __init__(self, family: str) -> None:
        self.connection, theirs = CONTEXT.Pipe()
        registry = (dict(columns.FAMILIES), dict(columns.COLUMNS))  # a test's own registrations too
        self.process = CONTEXT.Process(
            target=_serve, args=(theirs, registry, columns.family_environment(family)), name=f"twinspec-{family}"
        )
        self.process.start()
        theirs.close()

    def call(self, function: Callable, args: tuple, kwargs: dict) -> Any:
        self.connection.send((function, args, kwargs))
        while True:
            try:
                kind, value = self.connection.recv()
            except EOFError:
                raise WorkerDied(f"{self.process.name} ended (exit status {self.process.exitcode})") from None
            if kind == "print":
                sys.stdout.write(value)
                sys.stdout.flush()
            elif kind == "error":
                raise value
            else:
                return value

    def close(self, wait: bool) -> None:
        with contextlib.suppress(OSError):
            if wait:
                self.connection.send(None)
        self.process.join(timeout=30 if wait else 0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.connection.close()


def families_of(names: Iterable[str]) -> list[str]:
    """The families ``names`` load, in registry order."""
    used = {columns.column(name).family for name in names}
    return [family for family in columns.FAMILIES if family in used]


@contextlib.contextmanager
def per_family(names: Iterable[str]) -> Iterator[None]:
    """While open, each family of the columns ``names`` computes in a worker of its own, if
    they span several or one cannot load in this process (``columns.loads_here``); a lone
    family that can, in this process. Workers end when it closes."""
    global _open
    families = families_of(names)
    here = len(families) < 2 and all(columns.loads_here(family) for family in families)
    if here or _open is not None:
        yield
        return
    _open = {}
    finished = False
    try:
        yield
        finished = True
    finally:
        workers, _open = _open, None
        for worker in workers.values():
            worker.close(wait=finished)


def in_family(family: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` in ``family``'s worker while :func:`per_family` is open
    over several families; here otherwise."""
    if _open is None:
        return function(*args, **kwargs)
    if family not in _open:
        _open[family] = _Worker(family)
    return _open[family].call(function, args, kwargs)


def in_column(name: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """:func:`in_family` in column ``name``'s family."""
    return in_family(columns.column(name).family, function, *args, **kwargs)


class _Printed:
    """A worker's standard output: each write goes to the parent, which prints it."""

    encoding = "utf-8"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def write(self, text: str) -> int:
        self.connection.send(("print", text))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _serve(connection: Connection, registry: tuple[dict, dict], environment: dict[str, str]) -> None:
    """A worker's life: its family's environment first, then each call's answer, until None."""
    os.environ.update(environment)
    columns.FAMILIES.update(registry[0])
    columns.COLUMNS.update(registry[1])
    sys.stdout = _Printed(connection)
    while (message := connection.recv()) is not None:
        function, args, kwargs = message
        try:
            answer = ("result", function(*args, **kwargs))
        except BaseException as exc:  # the parent raises it: a TwinspecError stays one line
            answer = ("error", exc)
        try:
            connection.send(answer)
        except Exception as exc:  # an answer or an exception that does not pickle
            connection.send(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]} ({exc})")))
