"""What a training run produced, how it is printed, and how it is written to disk."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import plots
from common.atomic import atomic_write, umask
from common.datasets import load_dataset
from common.errors import DataError
from common.metrics import accuracy
from common.parity import LockstepParity
from common.weights import Weights, save_weights
from spec.schema import Spec


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


def train_run(
    trainer, spec: Spec, *, backend: str, layout: str, mode: str, export: Callable, on_epoch: Callable | None = None
) -> RunResult:
    """Train with either backend's trainer (they share the book's API) for the spec's epochs,
    and collect what the run produced; ``export`` turns the model into neutral weights."""
    start = time.perf_counter()
    trainer.train(spec.train.epochs, seed=spec.train.seed, on_epoch=on_epoch)
    seconds = time.perf_counter() - start
    per_class = trainer.loader_apply(trainer.val_loader, trainer.correct).sum(axis=0).tolist()
    return RunResult(
        backend=backend,
        model=spec.name,
        layout=layout,
        mode=mode,
        epochs=trainer.total_epochs,
        train_loss=[float(v) for v in trainer.losses],
        val_loss=[float(v) for v in trainer.val_losses],
        val_accuracy=accuracy(per_class),
        per_class=per_class,
        params=trainer.count_parameters(),
        seconds=seconds,
        classes=list(load_dataset(spec.data.dataset).classes),
        val_accuracy_history=[float(v) for v in trainer.val_accuracies],
        weights=export(trainer.model, spec.model),
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


def default_run_dir(model: str, backend: str, root: Path = Path("runs"), suffix: str = "") -> Path:
    """``runs/<model>-<backend>-<time><suffix>``, numbered if a run of the same second exists."""
    stem = f"{model}-{backend}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = root / f"{stem}{suffix}", 1
    while out.exists():
        n += 1
        out = root / f"{stem}-{n}{suffix}"
    return out


def check_run_dir(out: Path) -> Path:
    """Refuse, before training, a run directory that cannot be written whole."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out}: already exists and is not an empty directory; choose another")
    return out


def _write_dir(out: Path, write: Callable[[Path], None]) -> Path:
    """Have ``write`` fill a temporary directory beside ``out``, then rename it to ``out``:
    the files appear all together or not at all."""
    check_run_dir(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    except OSError as exc:
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    try:
        write(staging)
        staging.chmod(0o777 & ~umask())  # mkdtemp's 0700 would survive the rename
        if out.exists():
            out.rmdir()  # empty, as check_run_dir made sure
        staging.rename(out)
    except OSError as exc:
        raise DataError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_json(path: Path, content: dict) -> None:
    with atomic_write(path, "w") as handle:
        json.dump(content, handle, indent=2)


def write_run(result: RunResult, out: Path) -> Path:
    """Write ``metrics.json``, ``loss.png`` and ``weights.npz`` into ``out``, all or nothing."""

    def write(staging: Path) -> None:
        title = f"{result.model} ({result.backend}, {result.mode})"
        plots.save_png(
            plots.losses_figure({result.backend: (result.train_loss, result.val_loss)}, title), staging / "loss.png"
        )
        save_weights(result.weights, staging / "weights.npz")
        _write_json(staging / "metrics.json", result.metrics())

    return _write_dir(out, write)


def comparison(results: dict[str, RunResult], lockstep: LockstepParity | None = None) -> dict:
    """What ``compare.json`` holds: each backend's metrics, and lockstep's figures if any."""
    content: dict = {"model": next(iter(results.values())).model, "mode": next(iter(results.values())).mode}
    content |= {backend: result.metrics() for backend, result in results.items()}
    if lockstep is not None:
        content["lockstep"] = {
            "max_rel_loss_diff": lockstep.max_rel_loss_diff,
            "max_abs_weight_diff": lockstep.max_abs_weight_diff,
            "per_class_equal": lockstep.per_class_equal,
            "passed": lockstep.passed,
        }
    return content


def write_comparison(results: dict[str, RunResult], lockstep: LockstepParity | None, out: Path) -> Path:
    """Write ``compare.json`` and ``loss.png`` (both backends' curves on one set of axes) into ``out``."""
    first = next(iter(results.values()))

    def write(staging: Path) -> None:
        curves = {name: (result.train_loss, result.val_loss) for name, result in results.items()}
        title = f"{first.model} ({first.mode}): " + " vs ".join(results)
        plots.save_png(plots.losses_figure(curves, title), staging / "loss.png")
        _write_json(staging / "compare.json", comparison(results, lockstep))

    return _write_dir(out, write)


def final_rows(runs: list[RunResult]) -> list[tuple[str, list[str]]]:
    """The final figures of several runs, a row per figure and a column per run."""
    return [
        ("layout", [run.layout for run in runs]),
        ("final loss", [f"{run.train_loss[-1]:.4f}" for run in runs]),
        ("final val_loss", [f"{run.val_loss[-1]:.4f}" for run in runs]),
        ("val accuracy", [f"{run.val_accuracy:.2%}" for run in runs]),
        *(
            (f"  {label}", [f"{run.per_class[c][0]}/{run.per_class[c][1]}" for run in runs])
            for c, label in enumerate(runs[0].classes)
        ),
        ("parameters", [f"{run.params:,}" for run in runs]),
        ("seconds", [f"{run.seconds:.1f}" for run in runs]),
    ]


def format_comparison(results: dict[str, RunResult], lockstep: LockstepParity | None = None) -> str:
    """Both runs side by side: a row per epoch, then the final figures."""
    names = list(results)
    runs = list(results.values())
    epochs = len(runs[0].train_loss)
    width = 30
    lines = ["", "epoch" + "".join(f"  {name:<{width}}" for name in names)]
    lines.append("     " + "".join(f"  {'loss':>8}  {'val_loss':>8}  {'val_acc':>8}  " for _ in names))
    for i in range(epochs):
        cells = "".join(
            f"  {run.train_loss[i]:8.4f}  {run.val_loss[i]:8.4f}  {run.val_accuracy_history[i]:8.2%}  " for run in runs
        )
        lines.append(f"{i + 1:>5}{cells}")
    lines += ["", f"{'':<18}" + "".join(f"{name:>12}" for name in names)]
    lines += [f"{label:<18}" + "".join(f"{value:>12}" for value in values) for label, values in final_rows(runs)]
    if lockstep is not None:
        verdict = "the same run" if lockstep.passed else "NOT the same run"
        counts = "equal" if lockstep.per_class_equal else "differ"
        lines += [
            "",
            f"lockstep: losses within {lockstep.max_rel_loss_diff:.2g} relative, weights within"
            f" {lockstep.max_abs_weight_diff:.2g}, per-class counts {counts}: {verdict}",
        ]
    return "\n".join(lines)
