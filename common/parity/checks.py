"""The parity checks, for any registered columns: each column against the reference (torch).

- forward: one validation batch through every column and layout, from the reference's
  initial weights;
- lockstep: every column trains from the same initial weights and batch plan
  (``common.runs.inputs``);
- native: paired seeds of each column's own training (``common.parity.stats``).

Framework-free itself: it drives the columns through the registry, each in its family's
process while a command has them open (``common.runs.workers``), else here, imported only
when a check uses it, in the order a shared process needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from common import columns
from common.columns import layout_for
from common.data.datasets import load_dataset
from common.data.prep import normalize, resolve_normalization, split_dataset
from common.files.weights import Weights
from common.parity import NATIVE_SEEDS
from common.parity.stats import (
    LOCKSTEP_FLOOR_RUNS,
    LOCKSTEP_K,
    ForwardParity,
    LockstepParity,
    NativeParity,
    forward_parity,
    lockstep_parity,
    native_parity,
    rounding_floor,
)
from common.present.tables import format_lockstep_figures
from common.replay.torch_init import torch_initial_weights
from common.runs.result import RunResult
from common.runs.runner import column_forward, train_round_off, train_spec
from common.runs.workers import in_column
from spec.schema import LAYOUTS, Spec


def check_forward(spec: Spec, names: list[str] | None = None) -> ForwardParity:
    """The first validation batch through every column in both layouts, from the reference's init."""
    names = columns.ordered(names or columns.names())
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    data = resolve_normalization(spec.data, split)
    x = split.x_val[: spec.data.batch_size]
    if data.mean is not None:
        x = normalize(x, data.mean, data.std)
    weights = torch_initial_weights(spec.model)
    return forward_parity(
        {
            f"{name}-{layout}": in_column(name, column_forward, name, spec.model, layout, weights, x)
            for name in names
            for layout in LAYOUTS
        }
    )


def lockstep_runs(spec: Spec, layout: str, names: list[str]) -> dict[str, RunResult]:
    """Each column's lockstep run of ``spec`` in ``layout``."""
    return {name: in_column(name, train_spec, name, spec, layout, "lockstep") for name in columns.ordered(names)}


def floor_run(spec: Spec, layout: str, init: Weights | None = None, seed: int = 0) -> RunResult:
    """The reference's lockstep run with round-off injected at every step (``seed`` picks
    the ups and downs): the noise floor lockstep verdicts are judged by, measured here."""
    return in_column(columns.REFERENCE, train_round_off, spec, layout, init, seed)


def judge_lockstep(
    spec: Spec, layout: str, runs: dict[str, RunResult], init: Weights | None = None
) -> dict[str, LockstepParity]:
    """Every run in ``runs`` but the reference's against the reference's, by the noise
    floor: one round-off run of the reference, and more (up to LOCKSTEP_FLOOR_RUNS) while
    a column is beyond the bound, in case round-off forks the run."""
    reference = columns.REFERENCE
    floors: list[RunResult] = []
    while True:
        floors.append(floor_run(spec, layout, init, seed=len(floors)))
        parities = {
            name: lockstep_parity(name, reference, runs[reference], run, floors, rounding_floor(spec))
            for name, run in runs.items()
            if name != reference
        }
        if len(floors) == LOCKSTEP_FLOOR_RUNS or all(p.verdict != "FAILED" for p in parities.values()):
            return parities


def check_lockstep(spec: Spec, layout: str, names: list[str] | None = None) -> dict[str, LockstepParity]:
    """Every column (the reference included in ``names`` or not) against the reference's
    lockstep run, judged by the reference's noise floor, measured alongside."""
    reference = columns.REFERENCE
    names = [name for name in columns.ordered(names or columns.names()) if name != reference]
    return judge_lockstep(spec, layout, lockstep_runs(spec, layout, [reference, *names]))


def check_native(
    spec: Spec,
    names: list[str] | None = None,
    seeds: range = range(NATIVE_SEEDS),
    layout: str | None = None,
    on_seed: Callable[[int, dict[str, float]], None] | None = None,
    own_init: bool = True,
) -> dict[str, NativeParity]:
    """Paired native runs: per seed, every column starts from the reference's init.
    With ``own_init``, a column whose framework has another default init also runs with
    that, for information (key ``<name>-init``)."""
    reference = columns.REFERENCE
    names = columns.ordered({reference, *(names or columns.names())})
    accuracies: dict[str, list[float]] = {}
    n_val = 0
    for seed in seeds:
        seeded = spec.with_overrides(seed=seed)
        init = torch_initial_weights(seeded.model)
        runs: dict[str, RunResult] = {}
        for name in names:
            runs[name] = in_column(name, train_spec, name, seeded, layout_for(spec, name, layout), init=init)
            own = columns.column(name).own_init
            if own_init and own is not None and isinstance(seeded.model.init, str):  # a drawn init is every column's
                own_spec = seeded.with_overrides(init=own)
                runs[f"{name}-init"] = in_column(name, train_spec, name, own_spec, layout_for(spec, name, layout))
        for key, run in runs.items():
            accuracies.setdefault(key, []).append(run.val_accuracy)
        n_val = sum(total for _, total in runs[reference].per_class)
        if on_seed is not None:
            on_seed(seed, {key: accs[-1] for key, accs in accuracies.items()})
    return {
        name: native_parity(
            name, accuracies[name], reference, accuracies[reference], n_val, accuracies.get(f"{name}-init")
        )
        for name in names
        if name != reference
    }


def parity_report(
    spec: Spec,
    checks: tuple[str, ...],
    names: list[str],
    layout: str | None = None,
    first_seed: int = 0,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> dict:
    """Run the checks on one spec, saying what happens as it goes; the figures, as
    ``run.py parity --json`` writes them."""
    reference = columns.REFERENCE
    others = [name for name in columns.ordered(names) if name != reference]
    report: dict = {"model": spec.name, "reference": reference, "columns": others}
    if "forward" in checks:
        forward = check_forward(spec, [reference, *others])
        scale = f"1e-5 of the outputs' scale, {forward.scale:.3g}: {forward.bound:.3g}"
        say(f"forward parity, {spec.name}: max |difference| per pair (bound {scale})")
        for pair, diff in forward.pairs.items():
            say(f"  {pair:<32} {diff:.3g}")
        figures = {"max_abs_diff": forward.max_abs_diff, "scale": forward.scale, "bound": forward.bound}
        report["forward"] = {**figures, "pairs": forward.pairs, "passed": forward.passed}
    if "lockstep" in checks:
        report["lockstep"] = _lockstep_report(spec, others, (layout,) if layout else LAYOUTS, say)
    if "native" in checks:
        report["native"] = _native_report(spec, others, layout, first_seed, say)
    report["verdict"] = worst_verdict(
        report[check].get("verdict", "passed" if report[check]["passed"] else "FAILED") for check in checks
    )
    report["passed"] = report["verdict"] == "passed"
    return report


def _lockstep_report(spec: Spec, names: list[str], layouts: tuple[str, ...], say: Callable[[str], None]) -> dict:
    say(
        f"lockstep parity, {spec.name}: same weights and batches; each difference against {LOCKSTEP_K:g} x the"
        f" noise floor ({columns.REFERENCE} with round-off injected at every step, measured now)"
    )
    figures: dict[str, dict] = {name: {} for name in names}
    for layout in layouts:
        for name, lockstep in check_lockstep(spec, layout, names).items():
            figures[name][layout] = lockstep.figures()
            say(f"  {name} {layout}: " + format_lockstep_figures(lockstep))
    judged = {
        name: {
            "max_rel_loss_diff": max(f["max_rel_loss_diff"] for f in per_layout.values()),
            "max_rel_weight_diff": max(f["max_rel_weight_diff"] for f in per_layout.values()),
            "ratio": max(f["ratio"] for f in per_layout.values()),
            "per_class_equal": all(f["per_class_equal"] for f in per_layout.values()),
            "layouts": per_layout,
            "verdict": worst_verdict(f["verdict"] for f in per_layout.values()),
        }
        for name, per_layout in figures.items()
    }
    for figures_of in judged.values():
        figures_of["passed"] = figures_of["verdict"] == "passed"
    verdict = worst_verdict(b["verdict"] for b in judged.values())
    return {"columns": judged, "verdict": verdict, "passed": verdict == "passed"}


def worst_verdict(verdicts: Iterable[str]) -> str:
    """``FAILED`` if any check failed, else ``chaotic`` if any was not judged, else ``passed``."""
    verdicts = set(verdicts)
    return "FAILED" if "FAILED" in verdicts else "chaotic" if "chaotic" in verdicts else "passed"


def _native_report(
    spec: Spec, names: list[str], layout: str | None, first_seed: int, say: Callable[[str], None]
) -> dict:
    reference = columns.REFERENCE
    say(f"native parity, {spec.name}: {NATIVE_SEEDS} paired seeds per column (training...)")
    natives = check_native(
        spec,
        names,
        seeds=range(first_seed, first_seed + NATIVE_SEEDS),
        layout=layout,
        on_seed=lambda seed, accs: say(f"  seed {seed}: " + "  ".join(f"{key} {acc:.3f}" for key, acc in accs.items())),
    )
    judged = {}
    for name, native in natives.items():
        say(
            f"  {name}: {native.acc_mean:.3f} ± {native.acc_std:.3f} against {reference}"
            f" {native.reference_acc_mean:.3f} ± {native.reference_acc_std:.3f}:"
            f" |difference| {native.difference:.3f}, bound {native.bound:.3f}"
        )
        if native.own_init_acc_mean is not None:
            say(
                f"  {name} with its framework's own default init (glorot, zero bias; not judged):"
                f" {native.own_init_acc_mean:.3f} ± {native.own_init_acc_std:.3f}"
            )
        judged[name] = {
            "acc_mean": native.acc_mean,
            "acc_std": native.acc_std,
            "reference_acc_mean": native.reference_acc_mean,
            "reference_acc_std": native.reference_acc_std,
            "difference": native.difference,
            "bound": native.bound,
            "seeds": native.seeds,
            "own_init_acc_mean": native.own_init_acc_mean,
            "own_init_acc_std": native.own_init_acc_std,
            "passed": native.passed,
        }
    return {"columns": judged, "passed": all(b["passed"] for b in judged.values())}
