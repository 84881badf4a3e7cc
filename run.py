#!/usr/bin/env python3
"""twinspec's command line: train a spec's model in PyTorch or Keras, export its weights,
check parity between the frameworks, or list the specs.

A command imports only the backends it needs: a torch run never loads TensorFlow and a
keras run never loads torch. ``parity`` needs both, and imports torch first (see the
``torch_impl`` docstring).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from common.atomic import atomic_write
from common.datasets import load_dataset, user_dataset
from common.errors import DataError
from common.parity import ForwardParity, NativeParity, forward_parity, native_parity
from common.prep import normalize, split_dataset
from common.report import check_run_dir, default_run_dir, format_epoch, format_summary, write_run
from common.weights import load_weights, save_weights
from spec import Spec, TwinspecError, list_specs, load_spec, resolve_spec

BACKENDS = ("torch", "keras")
COMMANDS = ("train", "export", "parity", "list")
DEFAULT_MODEL = "cnn1"
NATIVE_SEEDS = 5


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
    commands = parser.add_subparsers(dest="command", metavar="{train,export,parity,list}", parser_class=_Parser)

    def model_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--model", default=DEFAULT_MODEL, help=f"spec name or path to a spec YAML (default: {DEFAULT_MODEL})"
        )
        sub.add_argument("--seed", type=_seed, help="seed model init and training with S instead of the spec's")
        sub.add_argument(
            "--data", type=Path, help="train on your copy of the spec's real dataset (its data.source) at this path"
        )

    train = commands.add_parser("train", help="train one model with one backend (the default command)")
    train.add_argument("--backend", choices=BACKENDS, default="torch", help="framework to train with (default: torch)")
    model_options(train)
    train.add_argument("--epochs", type=_positive, help="override the spec's number of epochs")
    train.add_argument(
        "--layout", choices=("nchw", "nhwc"), help="layout the model consumes (default: the spec's, else the backend's)"
    )
    train.add_argument(
        "--init-from", type=Path, help="start from these weights (a neutral .npz) instead of the seeded init"
    )
    train.add_argument("--out", type=Path, help="run directory (default: runs/<model>-<backend>-<time>)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress, only the summary")

    export = commands.add_parser("export", help="write a backend's initial weights for a spec (neutral .npz)")
    export.add_argument("--backend", choices=BACKENDS, default="torch", help="whose seeded init (default: torch)")
    model_options(export)
    export.add_argument("--weights", type=Path, required=True, help="the .npz file to write")

    parity = commands.add_parser("parity", help="check that torch and keras compute the same thing")
    model_options(parity)
    parity.add_argument(
        "--check",
        choices=("forward", "native", "all"),
        default="forward",
        help="forward: one batch through the four framework/layout pairs from the same weights; "
        f"native: {NATIVE_SEEDS} paired seeds of native training per backend, from --seed (default 0) on "
        "(default: forward)",
    )
    parity.add_argument("--json", type=Path, help="also write the figures to this JSON file")

    commands.add_parser("list", help="list the specs with their titles")
    return parser


def _spec(args: argparse.Namespace) -> Spec:
    spec = load_spec(resolve_spec(args.model))
    if args.data is not None:
        if spec.data.source is None:
            with_source = ", ".join(s.name for s in list_specs() if s.data.source is not None)
            raise TwinspecError(
                f"--data: {spec.name} names no data.source to load it with (specs that do: {with_source})"
            )
        spec = load_spec(spec.path, dataset=user_dataset(spec.data.source, args.data))
    return spec.with_overrides(epochs=getattr(args, "epochs", None), seed=getattr(args, "seed", None))


def _output_file(path: Path) -> Path:
    """Refuse, before any work, a file that cannot be written."""
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise DataError(f"cannot write {path}: it is a directory")
    return path


def _backend(name: str, module: str = "") -> ModuleType:
    return importlib.import_module(f"{name}_impl{'.' + module if module else ''}")


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
    layout = spec.layout_for(_backend(args.backend).NATIVE_LAYOUT, args.layout)
    native = _backend(args.backend, "native")
    print(f"training {spec.name} ({spec.title}) with {args.backend}, {layout}, {spec.train.epochs} epochs")
    start = time.perf_counter()

    def progress(epoch: int, loss: float, val_loss: float, val_acc: float) -> None:
        line = format_epoch(epoch, spec.train.epochs, loss, val_loss, val_acc, time.perf_counter() - start)
        print(f"[{args.backend}] {line}", flush=True)

    result = native.train_native(spec, layout, on_epoch=None if args.quiet else progress, init=init)
    print(format_summary(result))
    write_run(result, out)
    print(f"wrote {out}/: metrics.json, loss.png, weights.npz")
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
            for layout in ("nchw", "nhwc")
        }
    )


def check_native(
    spec: Spec, seeds: range = range(NATIVE_SEEDS), on_seed: Callable[[int, float, float], None] | None = None
) -> NativeParity:
    """Paired native runs: per seed, both backends start from torch's init (common.parity)."""
    initial = _backend("torch", "forward").initial_weights
    torch_native, keras_native = (_backend(name, "native").train_native for name in BACKENDS)
    accuracies: dict[str, list[float]] = {name: [] for name in BACKENDS}
    n_val = 0
    for seed in seeds:
        seeded = spec.with_overrides(seed=seed)
        init = initial(seeded.model)
        for name, train in (("torch", torch_native), ("keras", keras_native)):
            result = train(seeded, _backend(name).NATIVE_LAYOUT, init=init)
            accuracies[name].append(result.val_accuracy)
            n_val = sum(total for _, total in result.per_class)
        if on_seed is not None:
            on_seed(seed, accuracies["torch"][-1], accuracies["keras"][-1])
    return native_parity(accuracies["torch"], accuracies["keras"], n_val)


def cmd_parity(args: argparse.Namespace) -> int:
    spec = _spec(args)
    if args.json:
        _output_file(args.json)
    report: dict = {"model": spec.name}
    passed = True
    if args.check in ("forward", "all"):
        forward = check_forward(spec)
        print(f"forward parity, {spec.name}: max |difference| per pair (tolerance 1e-5)")
        for pair, diff in forward.pairs.items():
            print(f"  {pair:<28} {diff:.3g}")
        report["forward"] = {"max_abs_diff": forward.max_abs_diff, "pairs": forward.pairs, "passed": forward.passed}
        passed &= forward.passed
    if args.check in ("native", "all"):
        print(f"native parity, {spec.name}: {NATIVE_SEEDS} paired seeds per backend (training...)", flush=True)
        first = args.seed or 0
        native = check_native(
            spec,
            seeds=range(first, first + NATIVE_SEEDS),
            on_seed=lambda seed, t, k: print(f"  seed {seed}: torch {t:.3f}  keras {k:.3f}", flush=True),
        )
        print(
            f"  torch {native.torch_acc_mean:.3f} ± {native.torch_acc_std:.3f}   keras {native.keras_acc_mean:.3f}"
            f" ± {native.keras_acc_std:.3f}   |difference| {native.difference:.3f}   bound {native.bound:.3f}"
        )
        report["native"] = {
            "torch_acc_mean": native.torch_acc_mean,
            "keras_acc_mean": native.keras_acc_mean,
            "bound": native.bound,
            "seeds": native.seeds,
            "passed": native.passed,
        }
        passed &= native.passed
    report["passed"] = passed
    print("PASSED" if passed else "FAILED")
    if args.json:
        try:
            with atomic_write(args.json, "w") as handle:
                json.dump(report, handle, indent=2)
        except OSError as exc:
            raise DataError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "train")  # "run.py --backend keras" means "run.py train --backend keras"
    args = build_parser().parse_args(argv)
    commands = {"train": cmd_train, "export": cmd_export, "parity": cmd_parity, "list": cmd_list}
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
