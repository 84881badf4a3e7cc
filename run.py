#!/usr/bin/env python3
"""twinspec's command line: train a spec's model in PyTorch or Keras, or list the specs.

Only the backend asked for is imported, so a torch run never loads TensorFlow and a
keras run never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from common.report import default_run_dir, format_epoch, format_summary, write_run
from spec import TwinspecError, list_specs, load_spec, resolve_spec

BACKENDS = ("torch", "keras")
COMMANDS = ("train", "list")
DEFAULT_MODEL = "relu"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run.py", description="One spec, two native backends: PyTorch and Keras.")
    commands = parser.add_subparsers(dest="command", metavar="{train,list}", parser_class=_Parser)

    train = commands.add_parser("train", help="train one model with one backend (the default command)")
    train.add_argument("--backend", choices=BACKENDS, default="torch", help="framework to train with (default: torch)")
    train.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"spec name or path to a spec YAML (default: {DEFAULT_MODEL})"
    )
    train.add_argument("--epochs", type=_positive, help="override the spec's number of epochs")
    train.add_argument(
        "--seed", type=_non_negative, help="seed model init and training with S instead of the spec's seeds"
    )
    train.add_argument(
        "--layout",
        choices=("nchw", "nhwc"),
        help="tensor layout the model consumes (default: the spec's, else the backend's own)",
    )
    train.add_argument("--out", type=Path, help="run directory (default: runs/<model>-<backend>-<time>)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress, only the summary")

    commands.add_parser("list", help="list the specs with their titles")
    return parser


def cmd_list(_: argparse.Namespace) -> int:
    specs = list_specs()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        print(f"{spec.name:<{width}}  {spec.title}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    spec = load_spec(resolve_spec(args.model)).with_overrides(epochs=args.epochs, seed=args.seed)
    backend = importlib.import_module(f"{args.backend}_impl")
    native = importlib.import_module(f"{args.backend}_impl.native")
    layout = spec.layout_for(backend.NATIVE_LAYOUT, args.layout)
    print(f"training {spec.name} ({spec.title}) with {args.backend}, {layout}, {spec.train.epochs} epochs")
    start = time.perf_counter()

    def progress(epoch: int, loss: float, val_loss: float, val_acc: float) -> None:
        line = format_epoch(epoch, spec.train.epochs, loss, val_loss, val_acc, time.perf_counter() - start)
        print(f"[{args.backend}] {line}", flush=True)

    result = native.train_native(spec, layout, on_epoch=None if args.quiet else progress)
    print(format_summary(result))
    out = write_run(result, args.out or default_run_dir(spec.name, args.backend))
    print(f"wrote {out / 'metrics.json'} and {out / 'loss.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "train")  # "run.py --backend keras" means "run.py train --backend keras"
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "list": cmd_list}[args.command](args)
    except TwinspecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no run was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
