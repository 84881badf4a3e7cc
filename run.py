#!/usr/bin/env python3
"""twinspec's command line: train a spec's model in PyTorch or Keras, compare the two,
show their source, check their parity, write a lecture report, or list the specs.

A command imports only the backends it needs: a torch run never loads TensorFlow and a
keras run never loads torch. Commands that need both import torch first (see the
``torch_impl`` docstring).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from common.atomic import atomic_write
from common.datasets import load_dataset, user_dataset
from common.errors import DataError
from common.parity import (
    ForwardParity,
    LockstepParity,
    NativeParity,
    forward_parity,
    lockstep_parity,
    native_parity,
    parity_matrix,
)
from common.prep import normalize, split_dataset
from common.report import (
    RunResult,
    check_run_dir,
    default_run_dir,
    format_comparison,
    format_epoch,
    format_summary,
    train_run,
    write_comparison,
    write_run,
)
from common.run_inputs import MODES
from common.torch_init import torch_initial_weights
from common.weights import load_weights, nudged, save_weights
from spec import Spec, TwinspecError, list_specs, load_spec, resolve_spec
from spec.schema import LAYOUTS

BACKENDS = ("torch", "keras")
COMMANDS = ("train", "compare", "show", "export", "parity", "report", "list")
DEFAULT_MODEL = "cnn1"
NATIVE_SEEDS = 5
CHECKS = ("forward", "lockstep", "native")
ACTIVATION_RANGE = np.linspace(-5, 5, 201, dtype=np.float32)  # 0 is one of the points: relu's kink shows


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    if not text.isdigit() or int(text) >= 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2**32 - 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run.py", description="One spec, two native backends: PyTorch and Keras.")
    commands = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser)

    def model_options(sub: argparse.ArgumentParser, seed_help: str = "") -> None:
        sub.add_argument("--model", help=f"spec name or path to a spec YAML (default: {DEFAULT_MODEL})")
        sub.add_argument(
            "--seed", type=_seed, help=seed_help or "seed model init and training with S instead of the spec's"
        )
        sub.add_argument(
            "--data", type=Path, help="train on your copy of the spec's real dataset (its data.source) at this path"
        )

    def training_options(sub: argparse.ArgumentParser, out_help: str) -> None:
        sub.add_argument("--epochs", type=_positive, help="override the spec's number of epochs")
        sub.add_argument(
            "--mode",
            choices=MODES,
            default="native",
            help="native: each framework its own way; lockstep: common's initial weights and batch plan",
        )
        sub.add_argument(
            "--layout", choices=LAYOUTS, help="layout the model consumes (default: the spec's, else the backend's)"
        )
        sub.add_argument(
            "--init-from", type=Path, help="start from these weights (a neutral .npz) instead of the seeded init"
        )
        sub.add_argument("--out", type=Path, help=out_help)
        sub.add_argument("--quiet", action="store_true", help="no per-epoch progress, only the summary")

    train = commands.add_parser("train", help="train one model with one backend (the default command)")
    train.add_argument("--backend", choices=BACKENDS, default="torch", help="framework to train with (default: torch)")
    model_options(train)
    training_options(train, "run directory (default: runs/<model>-<backend>-<time>)")

    compare = commands.add_parser("compare", help="train one model with both backends and compare the runs")
    model_options(compare)
    training_options(compare, "run directory (default: runs/<model>-compare-<time>)")

    show = commands.add_parser("show", help="print a model's source and training loop in one framework")
    show.add_argument("show_model", metavar="MODEL", help="spec name or path to a spec YAML")
    show.add_argument("--backend", choices=BACKENDS, default="torch", help="framework to write it in (default: torch)")

    export = commands.add_parser("export", help="write a backend's initial weights for a spec (neutral .npz)")
    export.add_argument("--backend", choices=BACKENDS, default="torch", help="whose seeded init (default: torch)")
    model_options(export)
    export.add_argument("--weights", type=Path, required=True, help="the .npz file to write")

    parity = commands.add_parser("parity", help="check that torch and keras compute the same thing")
    model_options(parity, f"native: the first of the {NATIVE_SEEDS} seeds (default 0)")
    parity.add_argument("--all", action="store_true", help="every shipped spec (instead of --model)")
    parity.add_argument(
        "--check",
        choices=(*CHECKS, "all"),
        default="forward",
        help="forward: one batch through the four framework/layout pairs from the same weights; "
        "lockstep: both train from the same weights and batches; "
        f"native: {NATIVE_SEEDS} paired seeds of native training per backend (default: forward)",
    )
    parity.add_argument(
        "--layout",
        choices=LAYOUTS,
        help="lockstep and native in this layout only (default: both; native: each its own)",
    )
    parity.add_argument("--json", type=Path, help="also write the figures to this JSON file")

    report = commands.add_parser("report", help="train both backends and write a self-contained HTML report")
    report.add_argument("report_model", metavar="MODEL", help="spec name or path to a spec YAML")
    report.add_argument("--mode", choices=MODES, default="native", help="how both backends train (default: native)")
    report.add_argument("--epochs", type=_positive, help="override the spec's number of epochs")
    report.add_argument("--out", type=Path, help="the HTML file (default: runs/<model>-report-<time>.html)")
    report.add_argument("--quiet", action="store_true", help="no per-epoch progress")

    commands.add_parser("list", help="list the specs with their titles")
    return parser


def _spec(args: argparse.Namespace, model: str | None = None) -> Spec:
    spec = load_spec(resolve_spec(model or args.model or DEFAULT_MODEL))
    if getattr(args, "data", None) is not None:
        if spec.data.source is None:
            with_source = ", ".join(s.name for s in list_specs() if s.data.source is not None)
            raise TwinspecError(
                f"--data: {spec.name} names no data.source to load it with (specs that do: {with_source})"
            )
        spec = load_spec(spec.path, dataset=user_dataset(spec.data.source, args.data))
    return spec.with_overrides(epochs=getattr(args, "epochs", None), seed=getattr(args, "seed", None))


def _output_file(path: Path, make_parent: bool = False) -> Path:
    """Refuse, before any work, a file that cannot be written (``make_parent``: our default folder)."""
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise DataError(f"cannot write {path}: it is a directory")
    return path


def _backend(name: str, module: str = "") -> ModuleType:
    return importlib.import_module(f"{name}_impl{'.' + module if module else ''}")


def _layout(spec: Spec, backend: str, override: str | None) -> str:
    return spec.layout_for(_backend(backend).NATIVE_LAYOUT, override)


def _progress(backend: str, epochs: int, quiet: bool) -> Callable[[int, float, float, float], None] | None:
    """One line per epoch, in the same format for both backends."""
    if quiet:
        return None
    start = time.perf_counter()

    def progress(epoch: int, loss: float, val_loss: float, val_acc: float) -> None:
        line = format_epoch(epoch, epochs, loss, val_loss, val_acc, time.perf_counter() - start)
        print(f"[{backend}] {line}", flush=True)

    return progress


def cmd_list(_: argparse.Namespace) -> int:
    specs = list_specs()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        print(f"{spec.name:<{width}}  {spec.title}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    spec = _spec(args)
    out = check_run_dir(args.out or default_run_dir(spec.name, args.backend))
    init = load_weights(args.init_from, spec.model) if args.init_from else None
    layout = _layout(spec, args.backend, args.layout)
    runner = _backend(args.backend, "runner")
    print(f"training {spec.name} ({spec.title}) with {args.backend}, {layout}, {args.mode}, {spec.train.epochs} epochs")
    progress = _progress(args.backend, spec.train.epochs, args.quiet)
    result = runner.train_spec(spec, layout, args.mode, on_epoch=progress, init=init)
    print(format_summary(result))
    write_run(result, out)
    print(f"wrote {out}/: metrics.json, loss.png, weights.npz")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    spec = _spec(args)
    out = check_run_dir(args.out or default_run_dir(spec.name, "compare"))
    init = load_weights(args.init_from, spec.model) if args.init_from else None
    print(f"comparing {spec.name} ({spec.title}) in torch and keras, {args.mode}, {spec.train.epochs} epochs")
    results: dict[str, RunResult] = {}
    for name in BACKENDS:  # torch first: see the torch_impl docstring
        runner = _backend(name, "runner")
        layout = _layout(spec, name, args.layout)
        progress = _progress(name, spec.train.epochs, args.quiet)
        results[name] = runner.train_spec(spec, layout, args.mode, on_epoch=progress, init=init)
    lockstep = lockstep_parity(results["torch"], results["keras"]) if args.mode == "lockstep" else None
    print(format_comparison(results, lockstep))
    write_comparison(results, lockstep, out)
    print(f"wrote {out}/: compare.json, loss.png")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    spec = _spec(args, args.show_model)
    print(_backend(args.backend, "listing").listing(spec), end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    spec = _spec(args)
    _output_file(args.weights)
    save_weights(_backend(args.backend, "forward").initial_weights(spec.model), args.weights)
    print(f"wrote {args.backend}'s initial weights for {spec.name} (seed {spec.model.seed}) to {args.weights}")
    return 0


def check_forward(spec: Spec) -> ForwardParity:
    """The first validation batch through torch and keras in both layouts, from torch's init."""
    forward = {name: _backend(name, "forward") for name in BACKENDS}  # torch first
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    x = split.x_val[: spec.data.batch_size]
    if spec.data.mean is not None:
        x = normalize(x, spec.data.mean, spec.data.std)
    weights = forward["torch"].initial_weights(spec.model)
    return forward_parity(
        {
            f"{name}-{layout}": forward[name].forward(spec.model, layout, weights, x)
            for name in BACKENDS
            for layout in LAYOUTS
        }
    )


def check_lockstep(spec: Spec, layout: str) -> LockstepParity:
    """Both backends train from the same initial weights and batch plan (common.run_inputs).
    On failure, torch runs again from weights one ulp off, to tell chaos from drift."""
    torch_runner, keras_runner = (_backend(name, "runner") for name in BACKENDS)
    torch_run = torch_runner.train_spec(spec, layout, "lockstep")
    parity = lockstep_parity(torch_run, keras_runner.train_spec(spec, layout, "lockstep"))
    if parity.passed:
        return parity
    nudged_run = torch_runner.train_spec(spec, layout, "lockstep", init=nudged(torch_initial_weights(spec.model)))
    return dataclasses.replace(parity, noise_floor=lockstep_parity(torch_run, nudged_run).max_rel_loss_diff)


def check_native(
    spec: Spec,
    seeds: range = range(NATIVE_SEEDS),
    layout: str | None = None,
    on_seed: Callable[[int, dict[str, float]], None] | None = None,
    keras_init: bool = True,
) -> NativeParity:
    """Paired native runs: per seed, both backends start from torch's init (common.parity).
    With ``keras_init``, Keras with its own default init runs alongside, for information."""
    initial = _backend("torch", "forward").initial_weights
    torch_runner, keras_runner = (_backend(name, "runner") for name in BACKENDS)
    accuracies: dict[str, list[float]] = {"torch": [], "keras": [], "keras-init": []}
    n_val = 0
    for seed in seeds:
        seeded = spec.with_overrides(seed=seed)
        init = initial(seeded.model)
        runs = {
            "torch": torch_runner.train_spec(seeded, _layout(spec, "torch", layout), init=init),
            "keras": keras_runner.train_spec(seeded, _layout(spec, "keras", layout), init=init),
        }
        if keras_init:
            own = seeded.with_overrides(init="keras")
            runs["keras-init"] = keras_runner.train_spec(own, _layout(spec, "keras", layout))
        for name, run in runs.items():
            accuracies[name].append(run.val_accuracy)
        n_val = sum(total for _, total in runs["torch"].per_class)
        if on_seed is not None:
            on_seed(seed, {name: accs[-1] for name, accs in accuracies.items() if accs})
    return native_parity(accuracies["torch"], accuracies["keras"], n_val, accuracies["keras-init"] or None)


def parity_report(spec: Spec, checks: tuple[str, ...], layout: str | None, first_seed: int) -> dict:
    """Run the checks on one spec, printing as it goes; the figures, as ``--json`` writes them."""
    report: dict = {"model": spec.name}
    if "forward" in checks:
        forward = check_forward(spec)
        print(f"forward parity, {spec.name}: max |difference| per pair (tolerance 1e-5)")
        for pair, diff in forward.pairs.items():
            print(f"  {pair:<28} {diff:.3g}")
        report["forward"] = {"max_abs_diff": forward.max_abs_diff, "pairs": forward.pairs, "passed": forward.passed}
    if "lockstep" in checks:
        report["lockstep"] = _lockstep_report(spec, (layout,) if layout else LAYOUTS)
    if "native" in checks:
        print(f"native parity, {spec.name}: {NATIVE_SEEDS} paired seeds per backend (training...)", flush=True)
        native = check_native(
            spec,
            seeds=range(first_seed, first_seed + NATIVE_SEEDS),
            layout=layout,
            on_seed=lambda seed, accs: print(
                f"  seed {seed}: torch {accs['torch']:.3f}  keras {accs['keras']:.3f}"
                f"  (keras' own init {accs['keras-init']:.3f})",
                flush=True,
            ),
        )
        print(
            f"  torch {native.torch_acc_mean:.3f} ± {native.torch_acc_std:.3f}   keras {native.keras_acc_mean:.3f}"
            f" ± {native.keras_acc_std:.3f}   |difference| {native.difference:.3f}   bound {native.bound:.3f}\n"
            f"  keras with its own default init (glorot, zero bias; not judged): {native.keras_init_acc_mean:.3f}"
            f" ± {native.keras_init_acc_std:.3f}"
        )
        report["native"] = {
            "torch_acc_mean": native.torch_acc_mean,
            "keras_acc_mean": native.keras_acc_mean,
            "torch_acc_std": native.torch_acc_std,
            "keras_acc_std": native.keras_acc_std,
            "bound": native.bound,
            "seeds": native.seeds,
            "keras_init_acc_mean": native.keras_init_acc_mean,
            "keras_init_acc_std": native.keras_init_acc_std,
            "passed": native.passed,
        }
    report["passed"] = all(report[check]["passed"] for check in checks if report[check].get("applicable", True))
    return report


def _lockstep_report(spec: Spec, layouts: tuple[str, ...]) -> dict:
    if spec.model.dropout_layers:
        reason = (
            f"dropout ({', '.join(spec.model.dropout_layers)}) draws from each framework's own generator; "
            "covered by forward parity (eval mode) and native parity"
        )
        print(f"lockstep parity, {spec.name}: not applicable: {reason}")
        return {"applicable": False, "reason": reason}
    print(f"lockstep parity, {spec.name}: same weights and batches (tolerances 1e-4 relative loss, 1e-4 weights)")
    figures = {}
    for layout in layouts:
        lockstep = check_lockstep(spec, layout)
        figures[layout] = {
            "max_rel_loss_diff": lockstep.max_rel_loss_diff,
            "max_abs_weight_diff": lockstep.max_abs_weight_diff,
            "per_class_equal": lockstep.per_class_equal,
            "per_class": lockstep.torch_per_class,
            "noise_floor": lockstep.noise_floor,
            "passed": lockstep.passed,
        }
        counts = "same counts" if lockstep.per_class_equal else "counts differ"
        print(
            f"  {layout}: loss {lockstep.max_rel_loss_diff:.3g} relative, weights {lockstep.max_abs_weight_diff:.3g},"
            f" {counts} {lockstep.torch_per_class}"
            + ("" if lockstep.per_class_equal else f" vs {lockstep.keras_per_class}"),
            flush=True,
        )
        if lockstep.noise_floor is not None:
            print(f"    torch against itself, initial weights one ulp off: {lockstep.noise_floor:.3g} relative", end="")
            print(
                ": chaotic in float32, no implementation can follow this run so long"
                if lockstep.chaotic
                else ": round-off alone stays within the tolerance, so the frameworks differ",
                flush=True,
            )
    return {
        "max_rel_loss_diff": max(f["max_rel_loss_diff"] for f in figures.values()),
        "max_abs_weight_diff": max(f["max_abs_weight_diff"] for f in figures.values()),
        "per_class_equal": all(f["per_class_equal"] for f in figures.values()),
        "layouts": figures,
        "passed": all(f["passed"] for f in figures.values()),
    }


def cmd_parity(args: argparse.Namespace) -> int:
    if args.all and (args.model or args.data):
        raise TwinspecError("parity --all runs every shipped spec: leave out --model and --data")
    specs = [_spec(args, spec.name) for spec in list_specs()] if args.all else [_spec(args)]
    if args.json:
        _output_file(args.json)
    checks = CHECKS if args.check == "all" else (args.check,)
    reports = [parity_report(spec, checks, args.layout, args.seed or 0) for spec in specs]
    if args.all:
        print(parity_matrix(reports))
    passed = all(report["passed"] for report in reports)
    print("PASSED" if passed else "FAILED")
    if args.json:
        figures = {"models": reports, "passed": passed} if args.all else reports[0]
        try:
            with atomic_write(args.json, "w") as handle:
                json.dump(figures, handle, indent=2)
        except OSError as exc:
            raise DataError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    return 0 if passed else 1


def cmd_report(args: argparse.Namespace) -> int:
    from common.lecture import Side, write_lecture_report

    spec = _spec(args, args.report_model)
    out = _output_file(args.out or default_run_dir(spec.name, "report", suffix=".html"), make_parent=args.out is None)
    print(f"report on {spec.name} ({spec.title}): training torch and keras, {args.mode}, {spec.train.epochs} epochs")
    sides = {}
    for name in BACKENDS:  # torch first: see the torch_impl docstring
        layout = _layout(spec, name, None)
        trainer = _backend(name, "runner").make_trainer(spec, layout, args.mode)
        export = _backend(name, "weights").export_weights
        progress = _progress(name, spec.train.epochs, args.quiet)
        result = train_run(trainer, spec, backend=name, layout=layout, mode=args.mode, export=export, on_epoch=progress)
        curves = _backend(name, "activations").activation_curves(ACTIVATION_RANGE)
        sides[name] = Side(result, trainer, _backend(name, "listing").listing(spec), curves)
    runs = {name: side.result for name, side in sides.items()}
    lockstep = lockstep_parity(runs["torch"], runs["keras"]) if args.mode == "lockstep" else None
    print(format_comparison(runs, lockstep))
    write_lecture_report(spec, sides, check_forward(spec), lockstep, out)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "train")  # "run.py --backend keras" means "run.py train --backend keras"
    args = build_parser().parse_args(argv)
    commands = {
        "train": cmd_train,
        "compare": cmd_compare,
        "show": cmd_show,
        "export": cmd_export,
        "parity": cmd_parity,
        "report": cmd_report,
        "list": cmd_list,
    }
    try:
        return commands[args.command](args)
    except TwinspecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
