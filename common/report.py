"""What a training run produced, how it is printed, and how it is written to disk."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import plots
from common.atomic import atomic_write, umask
from common.errors import DataError
from common.metrics import accuracy
from common.weights import Weights, save_weights


@dataclass
class RunResult:
    """One training run of one backend; the fields are the keys of ``metrics.json``."""

    backend: str
    model: str
    layout: str
    mode: str
    epochs: int
    train_loss: list[float]
    val_loss: list[float]
    val_accuracy: float
    per_class: list[list[int]]
    params: int
    seconds: float
    classes: list[str] = field(default_factory=list)
    val_accuracy_history: list[float] = field(default_factory=list)
    weights: Weights = field(default_factory=dict, repr=False)  # trained, neutral format; not in the JSON

    def metrics(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if key != "weights"}


def run_result(
    trainer, *, backend: str, spec_name: str, layout: str, mode: str, classes, seconds: float, weights: Weights
) -> RunResult:
    """Collect a finished run from either backend's trainer (they share the book's API)."""
    per_class = trainer.loader_apply(trainer.val_loader, trainer.correct).sum(axis=0).tolist()
    return RunResult(
        backend=backend,
        model=spec_name,
        layout=layout,
        mode=mode,
        epochs=trainer.total_epochs,
        train_loss=[float(v) for v in trainer.losses],
        val_loss=[float(v) for v in trainer.val_losses],
        val_accuracy=accuracy(per_class),
        per_class=per_class,
        params=trainer.count_parameters(),
        seconds=seconds,
        classes=list(classes),
        val_accuracy_history=[float(v) for v in trainer.val_accuracies],
        weights=weights,
    )


def format_epoch(epoch: int, epochs: int, train_loss: float, val_loss: float, val_acc: float, seconds: float) -> str:
    """One progress line, the same for both backends so that they can be read side by side."""
    width = len(str(epochs))
    return (
        f"epoch {epoch:>{width}}/{epochs}  loss {train_loss:.4f}  val_loss {val_loss:.4f}"
        f"  val_acc {val_acc:6.2%}  {seconds:6.1f}s"
    )


def format_summary(result: RunResult) -> str:
    counts = "  ".join(f"{name}: {correct}/{total}" for name, (correct, total) in zip(result.classes, result.per_class))
    return "\n".join(
        [
            f"{result.backend} {result.model} ({result.mode}, {result.layout}): {result.epochs} epochs"
            f" in {result.seconds:.1f}s, {result.params} parameters",
            f"  final loss {result.train_loss[-1]:.4f}  val_loss {result.val_loss[-1]:.4f}"
            f"  val_accuracy {result.val_accuracy:.2%}",
            f"  per class (correct/total): {counts}",
        ]
    )


def default_run_dir(model: str, backend: str, root: Path = Path("runs")) -> Path:
    """``runs/<model>-<backend>-<time>``, with a suffix if a run of the same second exists."""
    base = root / f"{model}-{backend}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def check_run_dir(out: Path) -> Path:
    """Refuse, before training, a run directory that cannot be written whole."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out}: already exists and is not an empty directory; choose another")
    return out


def write_run(result: RunResult, out: Path) -> Path:
    """Write ``metrics.json``, ``loss.png`` and ``weights.npz`` into ``out``, all or nothing:
    they are written into a temporary directory beside it, which is then renamed."""
    check_run_dir(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    except OSError as exc:
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    try:
        plots.plot_losses(
            {result.backend: (result.train_loss, result.val_loss)},
            staging / "loss.png",
            title=f"{result.model} ({result.backend}, {result.mode})",
        )
        save_weights(result.weights, staging / "weights.npz")
        with atomic_write(staging / "metrics.json", "w") as handle:
            json.dump(result.metrics(), handle, indent=2)
        staging.chmod(0o777 & ~umask())  # mkdtemp's 0700 would survive the rename
        if out.exists():
            out.rmdir()  # empty, as check_run_dir made sure
        staging.rename(out)
    except OSError as exc:
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
