"""The text tables the command line prints: progress lines, run summaries, the per-epoch
comparison of any number of columns, the parity matrix and the deployment table. Class
names come from the user's folders and files: each is printed escaped (``printable``), one
visible line."""

from __future__ import annotations

from collections.abc import Sequence

from common.parity.referee import DEPLOY_K, DeployParity
from common.parity.stats import LOCKSTEP_K, LockstepParity
from common.runs.result import RunResult
from spec.errors import printable


def format_epoch(epoch: int, epochs: int, train_loss: float, val_loss: float, val_acc: float, seconds: float) -> str:
    """One progress line, the same for every column so that they can be read side by side."""
    width = len(str(epochs))
    return (
        f"epoch {epoch:>{width}}/{epochs}  loss {train_loss:.4f}  val_loss {val_loss:.4f}"
        f"  val_acc {val_acc:6.2%}  {seconds:6.1f}s"
    )


def _counts(classes: list[str], per_class: list[list[int]]) -> str:
    return "  ".join(f"{printable(name)}: {correct}/{total}" for name, (correct, total) in zip(classes, per_class))


def format_summary(result: RunResult) -> str:
    lines = [
        f"{result.column} {result.model} ({result.mode}, {result.layout}): {result.epochs} epochs"
        f" in {result.seconds:.1f}s, {result.params} parameters",
        f"  final loss {result.train_loss[-1]:.4f}  val_loss {result.val_loss[-1]:.4f}"
        f"  val_accuracy {result.val_accuracy:.2%}",
        f"  per class (correct/total): {_counts(result.classes, result.per_class)}",
    ]
    if result.normalization is not None and result.normalization["from"] == "training split":
        mean = ", ".join(f"{v:.4f}" for v in result.normalization["mean"])
        std = ", ".join(f"{v:.4f}" for v in result.normalization["std"])
        lines.append(f"  normalize: auto, from the training split: mean ({mean})  std ({std})")
    if result.test_per_class is not None:
        lines += [
            f"  test (once, after training): loss {result.test_loss:.4f}  accuracy {result.test_accuracy:.2%}",
            f"  test per class (correct/total): {_counts(result.classes, result.test_per_class)}",
        ]
    return "\n".join(lines)


def format_parameter_table(rows: list[tuple[str, str, tuple[int, ...], int]], title: str) -> str:
    """A model's parameters, one line per tensor (layer, tensor, shape, numel) and the total,
    as the slides list them and as Keras' ``model.summary()`` counts them."""
    header = ("layer", "tensor", "shape", "numel")
    cells = [(layer, tensor, str(tuple(shape)), f"{numel:,}") for layer, tensor, shape, numel in rows]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(4)]
    lines = [title, "  ".join(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    for row in cells:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    lines.append(f"total: {sum(numel for *_, numel in rows):,} parameters")
    return "\n".join(lines)


def final_rows(runs: list[RunResult]) -> list[tuple[str, list[str]]]:
    """The final figures of several runs, a row per figure and a column per run."""
    return [
        ("layout", [run.layout for run in runs]),
        ("final loss", [f"{run.train_loss[-1]:.4f}" for run in runs]),
        ("final val_loss", [f"{run.val_loss[-1]:.4f}" for run in runs]),
        ("val accuracy", [f"{run.val_accuracy:.2%}" for run in runs]),
        *(
            [("test accuracy", [f"{run.test_accuracy:.2%}" for run in runs])]
            if all(run.test_accuracy is not None for run in runs)
            else []
        ),
        *(
            (f"  {printable(label)}", [f"{run.per_class[c][0]}/{run.per_class[c][1]}" for run in runs])
            for c, label in enumerate(runs[0].classes)
        ),
        ("parameters", [f"{run.params:,}" for run in runs]),
        ("seconds", [f"{run.seconds:.1f}" for run in runs]),
    ]


VERDICTS = {
    "passed": "the same run",
    "FAILED": "NOT the same run",
    "chaotic": "chaotic in float32: not judged (round-off alone moves this run too far)",
}


def format_lockstep_figures(parity: LockstepParity) -> str:
    """A lockstep check's figures (each difference, its floor and bound, the counts) and verdict."""
    counts = "equal" if parity.per_class_equal else f"differ ({parity.per_class} vs {parity.reference_per_class})"
    floor = parity.floor
    floor_counts = "" if floor.per_class_equal else f", its counts differ ({floor.per_class})"
    rates = "" if parity.same_rates else f"; learning rates NOT {parity.reference}'s"
    if parity.same_rates and parity.distance.scheduled_steps:
        rates = f"; learning rates {parity.reference}'s at all {parity.distance.scheduled_steps} steps"
    return (
        f"loss {parity.max_rel_loss_diff:.2g} relative (floor {floor.max_rel_loss_diff:.2g}, bound"
        f" {parity.loss_bound:.2g}), weights {parity.max_rel_weight_diff:.2g} of their scale (floor"
        f" {floor.max_rel_weight_diff:.2g}, bound {parity.weight_bound:.2g}){floor_counts};"
        f" per-class counts {counts}{rates}; {parity.ratio:.2g} of the bound: {VERDICTS[parity.verdict]}"
    )


def format_lockstep(column: str, reference: str, parity: LockstepParity) -> str:
    return f"lockstep {column} vs {reference}: " + format_lockstep_figures(parity)


def format_comparison(
    results: dict[str, RunResult], lockstep: dict[str, LockstepParity] | None = None, reference: str = "torch"
) -> str:
    """The runs side by side, a column each: a row per epoch, then the final figures, then
    each column's lockstep verdict against the reference."""
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
    if lockstep:
        lines.append("")
        lines += [format_lockstep(name, reference, parity) for name, parity in lockstep.items()]
    return "\n".join(lines)


def parity_matrix(reports: list[dict]) -> str:
    """A line per spec and column from ``run.py parity`` reports: each check's worst figure
    against the reference, and its verdict. The spec and column names set their own widths."""
    rows = []
    for report in reports:
        forward = report.get("forward")
        lockstep = report.get("lockstep")
        native = report.get("native")
        for column in report["columns"]:
            cells = [_verdict(f"{forward['max_abs_diff']:.2g}", forward["passed"]) if forward else "-"]
            for layout in ("nchw", "nhwc"):
                if lockstep is None:
                    cells.append("-")
                elif layout in lockstep["columns"][column]["layouts"]:
                    figures = lockstep["columns"][column]["layouts"][layout]
                    cells.append(
                        "chaotic" if figures["chaotic"] else _verdict(f"{figures['ratio']:.2g}", figures["passed"])
                    )
                else:
                    cells.append("-")
            if native:
                figures = native["columns"][column]
                cells.append(_verdict(f"{figures['difference']:.3f} / {figures['bound']:.3f}", figures["passed"]))
            else:
                cells.append("-")
            rows.append((report["model"], column, cells))
    model_width = max([len("model"), *(len(model) for model, _, _ in rows)])
    column_width = max([len("column"), *(len(column) for _, column, _ in rows)])
    widths = (10, 15, 15, 20)
    titles = ("forward", "lockstep nchw", "lockstep nhwc", "native |d| / bound")

    def line(model: str, column: str, cells: Sequence[str]) -> str:
        return f"{model:<{model_width}}  {column:<{column_width}}" + "".join(
            f"  {cell:>{w}}" for cell, w in zip(cells, widths)
        )

    lines = ["", "parity matrix (each column against the reference)", line("model", "column", titles)]
    lines += [line(*row) for row in rows]
    lines.append(
        f"(lockstep: the difference from the reference over its bound, {LOCKSTEP_K:g} x the noise floor measured"
        " alongside; chaotic: round-off alone decides the run, not judged; FAIL marks a failed check)"
    )
    return "\n".join(lines)


def _verdict(figure: str, passed: bool) -> str:
    return figure if passed else f"FAIL {figure}"


def deploy_table(model: str, images: int, rows: list[DeployParity]) -> str:
    """``parity --check deploy``: a line per exported model against its trained model."""
    header = ["column", "format", "runtime", "max |difference|", "argmax agreement", "bound", "why this bound"]
    cells = [
        [
            row.column,
            row.format,
            row.runtime,
            f"{row.max_abs_diff:.2g}",
            f"{row.agreeing}/{row.total} ({row.agreement:.0%})" + (f", {row.ties} ties" if row.ties else ""),
            _verdict(f"{row.bound:.2g}", row.passed),
            row.floor.reason,
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    title = f"deployment parity, {model}: {images} validation and test images, each export against its trained model"
    lines = ["", title]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *cells]]
    lines.append(
        f"(bound: {DEPLOY_K:g} x the larger of the trained model's outputs moved by its own float32 round-off and"
        " sqrt(n) u of its largest output; a tie is an image whose trained top two outputs lie within twice the"
        " bound; FAIL marks a failed export)"
    )
    return "\n".join(lines)
