"""Files that appear whole or not at all, even if the process dies while writing.

Temporary files and staging folders are named ``.<name>.twinspec-<pid>-<random>`` beside
their target. A process killed while writing (SIGKILL, a power cut) cannot remove its own,
so every write first clears those of processes that no longer run on this machine.

A finished file takes its name by a hard link, which fails if anything took the name
meanwhile, rather than by ``os.replace``, which would put it over whatever did; only an
overwrite the user asked for replaces, and only a regular file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from common.errors import DataError, WriteError
from spec.errors import special_file

_LEFTOVER = re.compile(r"\..+\.twinspec-(\d+)-[a-z0-9_]+(\.tmp)?")


def temporary_prefix(name: str) -> str:
    """The prefix of this process' temporary files and folders for a target called ``name``."""
    return f".{name}.twinspec-{os.getpid()}-"


def clear_leftovers(folder: Path) -> None:
    """Remove the temporary files and staging folders that dead twinspec processes left in ``folder``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # nothing to clear, or not ours to clear
    for entry in entries:
        match = _LEFTOVER.fullmatch(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextmanager
def atomic_write(path: Path, mode: str = "wb", overwrite: bool = True) -> Iterator[IO]:
    """Write to a temporary file beside ``path``, then give it that name on success. An
    overwrite goes through a symbolic link to the file it names (``/dev/stdout`` redirected
    to a file), never replaces the link itself. ``overwrite=False``: a file that took the
    name while this one was written is left as it is, and this one is dropped (a
    ``WriteError``); a link that took it is not followed."""
    if overwrite:
        path = Path(os.path.realpath(path))
    clear_leftovers(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    os.fchmod(fd, 0o666 & ~umask())  # mkstemp's 0600 would survive the rename
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        place(tmp, path, overwrite)
    finally:
        Path(tmp).unlink(missing_ok=True)


def place(tmp: str | Path, path: Path, overwrite: bool) -> None:
    """Give the finished file ``tmp`` the name ``path`` (``tmp`` may remain, as a second name):
    over a regular file only where ``overwrite``; a name taken meanwhile stays as it is."""
    if overwrite:
        kind = special_file(path)
        if kind is not None:  # a FIFO or a device that took the name: never replaced by a file
            raise WriteError(path, f"it is {kind}, not a file to overwrite")
        os.replace(tmp, path)
        return
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links (FAT, some network shares): claim the name first
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.replace(tmp, path)
    except FileExistsError:
        raise WriteError(path, "it appeared while this command ran, and was left as it is") from None


def write_json(path: Path, content: object, overwrite: bool = True) -> None:
    """Strict JSON (no NaN or Infinity, which JSON does not have), written whole."""
    try:
        with atomic_write(path, "w", overwrite) as handle:
            json.dump(content, handle, indent=2, allow_nan=False)
    except ValueError as exc:
        raise DataError(f"{path}: not written, a figure is not a finite number ({exc})") from None
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None


def umask() -> int:
    """The process' file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
