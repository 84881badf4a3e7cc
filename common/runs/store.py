"""Where runs are written, and how: whole run folders with ``metrics.json``, figures and weights."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common.errors import DataError, WriteError
from common.files.atomic import clear_leftovers, temporary_prefix, umask, write_json
from common.files.weights import save_weights
from common.parity.stats import LockstepParity
from common.runs.result import RunResult
from spec.errors import special_file


def default_run_dir(model: str, column: str, root: Path = Path("runs"), suffix: str = "") -> Path:
    """``runs/<model>-<column>-<time><suffix>``, numbered if a run of the same second exists."""
    stem = f"{model}-{column}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = root / f"{stem}{suffix}", 1
    while out.exists():
        n += 1
        out = root / f"{stem}-{n}{suffix}"
    return out


def check_run_dir(out: Path) -> Path:
    """Refuse, before training, a run directory that cannot be written whole."""
    kind = special_file(out)
    if kind not in (None, "a directory"):
        raise DataError(f"--out {out}: it is {kind}, not a directory; choose another")
    if os.path.lexists(out) and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out}: already exists and is not an empty directory; choose another")
    check_writable(out, "--out")
    return out


def check_writable(path: Path, option: str) -> Path:
    """Refuse, before any work, a path whose folder cannot be created or written: the
    nearest existing folder above it must be a folder we may write in."""
    parent = Path(os.path.realpath(path)).parent  # a link's file is written, in its own folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DataError(f"{option} {path}: cannot be written, {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot be written, no permission to write in {parent}")
    try:  # access() says yes to root everywhere, /proc included: only a write tells
        handle, probe = tempfile.mkstemp(dir=parent, prefix=temporary_prefix(path.name), suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or exc
        raise DataError(f"{option} {path}: cannot be written, {parent} refuses a file ({reason})") from None
    return path


def write_folder(out: Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Have ``write`` fill a temporary directory beside ``out``, then rename it to ``out``:
    the files appear all together or not at all. A failed write names ``out``, the folder
    the user asked for, not the staging copy it failed in. ``force``: ``out`` may be a
    folder with files already, and the new ones replace those of the same names, each whole;
    the user's other files stay."""
    if force and out.is_dir() and not out.is_symlink():
        check_writable(out / "x", "--out")
    else:
        check_run_dir(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clear_leftovers(out.parent)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=temporary_prefix(out.name)))
    except OSError as exc:
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    try:
        _fill(staging, write, out)
        if force and out.is_dir() and any(out.iterdir()):
            _merge(staging, out)
        else:
            staging.rename(out)  # replaces an empty folder only: a file, or a folder of files, that took the name stays
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise DataError(f"--out {out}: something took the name while this command ran; left as it is") from None
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _merge(staging: Path, out: Path) -> None:
    """Each file of ``staging`` into ``out``, over a regular file of its name, never over a folder."""
    made = sorted(staging.iterdir())
    for path in made:
        if os.path.lexists(out / path.name) and special_file(out / path.name) is not None:
            raise DataError(f"--out {out}: {path.name} is {special_file(out / path.name)} there; move it away first")
    for path in made:
        os.replace(path, out / path.name)


def _fill(staging: Path, write: Callable[[Path], None], out: Path) -> None:
    """``write`` into ``staging``; a file it cannot write is named as it would be in ``out``."""
    try:
        write(staging)
        staging.chmod(0o777 & ~umask())  # mkdtemp's 0700 would survive the rename
    except WriteError as exc:
        raise DataError(f"cannot write {out / exc.path.relative_to(staging)}: {exc.reason}") from None
    except OSError as exc:
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None


RUN_SPEC = "spec.yaml"  # the spec a run came from, as it was when it trained


def write_run(result: RunResult, out: Path, native: dict[str, Callable[[Path], None]] | None = None) -> Path:
    """Write ``metrics.json``, ``loss.png``, ``weights.npz`` and ``spec.yaml`` into ``out``,
    all or nothing; ``native`` maps more file names to what writes them (the column's own
    model file, ``model.pt``, ``model.ckpt``, ``model.keras``, or the folder ``model.savedmodel``)."""

    from common.present import plots  # matplotlib takes a second to import: only a run that writes pays it

    def write(staging: Path) -> None:
        title = f"{result.model} ({result.column}, {result.mode})"
        curves = {result.column: (result.train_loss, result.val_loss)}
        plots.save_png(plots.losses_figure(curves, title, {result.column: result.learning_rates}), staging / "loss.png")
        save_weights(result.weights, staging / "weights.npz")
        (staging / RUN_SPEC).write_text(result.spec_yaml, encoding="utf-8")
        for name, save in (native or {}).items():
            save(staging / name)
        write_json(staging / "metrics.json", result.metrics())

    return write_folder(out, write)


def comparison(
    results: dict[str, RunResult], lockstep: dict[str, LockstepParity] | None = None, reference: str = "torch"
) -> dict:
    """What ``compare.json`` holds: each column's metrics, and each column's lockstep
    figures against the reference, if any."""
    first = next(iter(results.values()))
    content: dict = {"model": first.model, "mode": first.mode, "columns": {}}
    content["columns"] = {name: result.metrics() for name, result in results.items()}
    if lockstep is not None:
        content["lockstep"] = {
            "reference": reference,
            "columns": {name: parity.figures() for name, parity in lockstep.items()},
        }
    return content


def write_comparison(
    results: dict[str, RunResult], lockstep: dict[str, LockstepParity] | None, out: Path, reference: str = "torch"
) -> Path:
    """Write ``compare.json`` and ``loss.png`` (every column's curves on one set of axes) into ``out``."""
    from common.present import plots  # as in write_run

    first = next(iter(results.values()))

    def write(staging: Path) -> None:
        curves = {name: (result.train_loss, result.val_loss) for name, result in results.items()}
        title = f"{first.model} ({first.mode}): " + " vs ".join(results)
        rates = {name: result.learning_rates for name, result in results.items()}
        plots.save_png(plots.losses_figure(curves, title, rates), staging / "loss.png")
        write_json(staging / "compare.json", comparison(results, lockstep, reference))

    return write_folder(out, write)
