#!/usr/bin/env python3
"""twinspec's command line: train a spec's model in any registered column (PyTorch,
Lightning, Keras, TensorFlow, JAX; Keras on JAX and on PyTorch), compare them, show their
source, check their parity against torch, write a lecture report, classify images with a
trained run, or list the specs; write a spec's listings as Jupyter notebooks.

A command imports only what it uses (docs/speed.md, "Start-up rules"): ``list`` and ``show`` load no
framework and no matplotlib, a torch run never loads TensorFlow and a keras run never loads
torch. Commands that need several families run each in a worker process of its own
(``common.runs.workers``); a process that loads several (``parity --check deploy``) loads
torch's first and is made safe for all (``columns.share_process``; see the ``torch_impl``
docstring). So most modules are imported by the commands that need them, not here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common import columns
from common.deploy.formats import FORMATS
from common.errors import DataError
from common.parity import NATIVE_SEEDS
from common.present.source import STYLES
from common.runs import MODES
from common.streams import StdoutClosed, StdoutFailed, discard_stdout, guarded_stdout
from common.threads import THREAD_VARIABLES, CpuTimes, cpu_times, spare_torch_threads, xla_threads
from spec import Spec, TwinspecError, list_specs, load_spec, resolve_spec
from spec.errors import printable, special_file
from spec.schema import LAYOUTS

if TYPE_CHECKING:
    from common.files.weights import Weights
    from common.present.progress import Progress
    from common.parity.stats import LockstepParity
    from common.runs.result import RunResult

COMMANDS = ("train", "compare", "show", "notebook", "init-weights", "deploy", "parity", "report", "predict", "list")
RENAMED = {"export": "init-weights"}  # old spelling -> command: still accepted, with a note
DEFAULT_MODEL = "cnn1"
CHECKS = ("forward", "lockstep", "native")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {printable(message)} (see --help)\n")


class Terminated(BaseException):
    """SIGTERM (``timeout``, CI cancelling a job, ``docker stop``): unwinds like Ctrl-C, so
    that every file being written is removed, and ends with status 128 + 15."""


def _interrupt_once() -> None:
    """SIGTERM, and SIGINT where the process takes it (a background job inherits it
    ignored), unwind the run once: the first raises ``Terminated`` or ``KeyboardInterrupt``
    and has both ignored from then on (Ctrl-C pressed again, a second ``kill``), so that no
    second exception cuts short the removal of half-written files, or the frameworks'
    shutdown, where it would end as a traceback or kill the process."""

    def interrupt(signum: int, frame: object) -> None:
        _ignore_interrupts()
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated

    def raise_again(unraisable: sys.UnraisableHookArgs) -> None:
        """An interrupt raised where Python cannot pass it on, in a garbage collector's
        callback (JAX registers one) or a finaliser, would be printed as a traceback and
        lost, and the run go on deaf to Ctrl-C: it is raised again 10 ms later, where the
        main thread is then."""
        if not isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
            return unraisable_hook(unraisable)
        signum = signal.SIGINT if isinstance(unraisable.exc_value, KeyboardInterrupt) else signal.SIGTERM
        signal.signal(signal.SIGALRM, lambda _, frame: interrupt(signum, frame))
        signal.setitimer(signal.ITIMER_REAL, 0.01)

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, raise_again


def _ignore_interrupts() -> None:
    """Ignored by the system, not by a Python handler: Python puts back the default action,
    death, for the signals it handles as it exits."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


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
    parser = _Parser(
        prog="run.py",
        description="One spec, compiled natively into every registered column: a framework's own code. "
        "--backend and --backends name columns.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser)

    def model_options(sub: argparse.ArgumentParser, seed_help: str = "") -> None:
        sub.add_argument("--model", help=f"spec name or path to a spec YAML (default: {DEFAULT_MODEL})")
        sub.add_argument(
            "--seed", type=_seed, help=seed_help or "seed model init and training with S instead of the spec's"
        )
        sub.add_argument(
            "--data", type=Path, help="train on your copy of the spec's real dataset (its data.source) at this path"
        )

    def columns_option(sub: argparse.ArgumentParser) -> None:
        default = ",".join(columns.defaults())
        more = ", ".join(name for name in columns.names() if name not in columns.defaults())
        sub.add_argument(
            "--backends",
            dest="columns",
            default=default,
            metavar="A,B,...",
            help=f"which columns, or all (default: {default}; all adds {more})",
        )

    def threads_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--threads",
            type=_positive,
            help="CPU threads per framework (default: the framework's own, one per core); "
            "round-off differs between thread counts (docs/speed.md)",
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
            "--layout", choices=LAYOUTS, help="layout the model consumes (default: the spec's, else the column's)"
        )
        sub.add_argument(
            "--init-from", type=Path, help="start from these weights (a neutral .npz) instead of the seeded init"
        )
        sub.add_argument("--out", type=Path, help=out_help)
        sub.add_argument("--quiet", action="store_true", help="no per-epoch progress, only the summary")
        threads_option(sub)

    train = commands.add_parser("train", help="train one model in one column (the default command)")
    train.add_argument(
        "--backend",
        dest="column",
        choices=list(columns.COLUMNS),
        default="torch",
        help="the column, a framework, to train in (default: torch)",
    )
    model_options(train)
    training_options(train, "run directory (default: runs/<model>-<column>-<time>)")

    compare = commands.add_parser("compare", help="train one model in several columns and compare the runs")
    model_options(compare)
    columns_option(compare)
    training_options(compare, "run directory (default: runs/<model>-compare-<time>)")

    show = commands.add_parser("show", help="print a model's source and training loop in one framework")
    show.add_argument("show_model", metavar="MODEL", help="spec name or path to a spec YAML")
    show.add_argument(
        "--backend",
        dest="column",
        choices=list(columns.COLUMNS),
        default="torch",
        help="the column, a framework, to write it in (default: torch)",
    )
    show.add_argument(
        "--style",
        choices=STYLES,
        help="the model as a class with forward, as the seminar also writes it (module: torch, lightning; tf and "
        "jax write one always), or built up in a container (sequential: torch, lightning, keras); "
        "default: as the column builds it",
    )
    show.add_argument(
        "--parameters", action="store_true", help="also list each tensor the built model holds (loads the framework)"
    )
    show.add_argument("--out", type=Path, help="write the listing to this file instead of printing it")
    show.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    notebook = commands.add_parser(
        "notebook", help="write a model's listings as Jupyter notebooks: one per column, and one for the lecture"
    )
    notebook.add_argument("notebook_model", metavar="MODEL", help="spec name or path to a spec YAML")
    notebook.add_argument("--out", type=Path, help="the folder to write them in (default: notebooks/<model>)")
    notebook.add_argument("--epochs", type=_positive, help="override the spec's number of epochs")
    columns_option(notebook)
    notebook.add_argument(
        "--execute", action="store_true", help="run each notebook in a fresh kernel and keep its outputs (nbclient)"
    )
    notebook.add_argument(
        "--timeout", type=_positive, default=1800, help="with --execute: seconds a cell may run (default: 1800)"
    )
    notebook.add_argument(
        "--force", action="store_true", help="--out may exist: replace its notebooks, keep its other files"
    )

    export = commands.add_parser(
        "init-weights", aliases=list(RENAMED), help="write a column's initial weights for a spec (neutral .npz)"
    )
    export.add_argument(
        "--backend",
        dest="column",
        choices=list(columns.COLUMNS),
        default="torch",
        help="the column whose seeded init (default: torch)",
    )
    model_options(export)
    export.add_argument("--weights", type=Path, required=True, help="the .npz file to write")
    export.add_argument("--force", action="store_true", help="overwrite --weights if it exists")

    deploy = commands.add_parser(
        "deploy", help="export a trained run's model for deployment, with its framework's own exporter"
    )
    deploy.add_argument("deploy_run", metavar="RUN_DIR", type=Path, help="a folder written by run.py train")
    deploy.add_argument("--format", required=True, choices=list(FORMATS), help="onnx, pt2, litert or saved_model")
    deploy.add_argument("--out", type=Path, required=True, help="the file (a folder for saved_model) to write")
    deploy.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    threads_option(deploy)

    parity = commands.add_parser("parity", help="check that every column computes what torch computes")
    parity.add_argument(
        "runs", metavar="RUN_DIR", type=Path, nargs="*", help="--check deploy: run folders of one spec to export"
    )
    model_options(parity, f"native: the first of the {NATIVE_SEEDS} seeds (default 0)")
    parity.add_argument("--all", action="store_true", help="every shipped spec (instead of --model)")
    columns_option(parity)
    parity.add_argument(
        "--check",
        choices=(*CHECKS, "all", "deploy"),
        default="forward",
        help="forward: one batch through every column in both layouts from the same weights; "
        "lockstep: every column trains from the same weights and batches; "
        f"native: {NATIVE_SEEDS} paired seeds of native training per column (all: those three); "
        "deploy: each RUN_DIR's model exported to every format its column has, run in its runtime (default: forward)",
    )
    parity.add_argument(
        "--layout",
        choices=LAYOUTS,
        help="lockstep and native in this layout only (default: both; native: each its own)",
    )
    parity.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parity.add_argument("--force", action="store_true", help="overwrite --json if it exists")
    threads_option(parity)

    report = commands.add_parser("report", help="train several columns and write a self-contained HTML report")
    report.add_argument("report_model", metavar="MODEL", help="spec name or path to a spec YAML")
    columns_option(report)
    report.add_argument("--mode", choices=MODES, default="native", help="how every column trains (default: native)")
    report.add_argument("--epochs", type=_positive, help="override the spec's number of epochs")
    report.add_argument("--out", type=Path, help="the HTML file (default: runs/<model>-report-<time>.html)")
    report.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    report.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    threads_option(report)

    predict = commands.add_parser("predict", help="classify image files with a trained run, in any column")
    predict.add_argument(
        "run_dir",
        metavar="RUN_OR_EXPORTED",
        type=Path,
        help="a folder written by run.py train, or a file of run.py deploy",
    )
    predict.add_argument(
        "images", metavar="IMAGE_OR_FOLDER", type=Path, nargs="+", help="PNG or JPEG files, or folders of them"
    )
    predict.add_argument(
        "--backend", dest="column", choices=list(columns.COLUMNS), help="the column to run it in (default: the run's)"
    )

    commands.add_parser("list", help="list the specs with their titles")
    return parser


def _spec(args: argparse.Namespace, model: str | None = None) -> Spec:
    spec = load_spec(resolve_spec(model or args.model or DEFAULT_MODEL))
    if getattr(args, "data", None) is not None:
        from common.data.datasets import user_dataset

        if spec.data.source is None:
            with_source = ", ".join(s.name for s in list_specs() if s.data.source is not None)
            raise TwinspecError(
                f"--data: {spec.name} names no data.source to load it with (specs that do: {with_source})"
            )
        spec = load_spec(spec.path, dataset=user_dataset(spec.data.source, args.data))
    return spec.with_overrides(epochs=getattr(args, "epochs", None), seed=getattr(args, "seed", None))


def _inputs(args: argparse.Namespace, specs: list[Spec]) -> list[tuple[str, Path]]:
    """The files and folders a command reads, each with what names it."""
    given = [("the spec", spec.path) for spec in specs]
    given += [("--init-from", getattr(args, "init_from", None)), ("--data", getattr(args, "data", None))]
    return [(what, Path(path)) for what, path in given if path is not None]


def _not_an_input(path: Path, option: str, inputs: list[tuple[str, Path]]) -> Path:
    """Refuse an output that is, or lies inside, something the command reads."""
    target = path.resolve()
    for what, source in inputs:
        same = target == source.resolve() or (path.exists() and source.exists() and os.path.samefile(path, source))
        if same or (source.is_dir() and target.is_relative_to(source.resolve())):
            raise DataError(
                f"{option} {path}: is {'inside ' if not same else ''}{what} ({source}), which this command reads"
            )
    return path


def _output_file(
    path: Path, option: str, inputs: list[tuple[str, Path]], force: bool = False, make_parent: bool = False
) -> Path:
    """Refuse, before any work, a file that cannot be written, that would overwrite one
    without ``--force``, or that is an input (``make_parent``: our default folder, which
    the writer makes). What is not a regular file (a directory, a device such as
    ``/dev/null``, a FIFO, ``/dev/stdout``) is never replaced, ``--force`` or not. A file
    that appears while the command runs is left as it is (``common.files.atomic``)."""
    from common.runs.store import check_writable

    _not_an_input(path, option, inputs)
    kind = special_file(path)
    if kind is not None:
        raise DataError(f"{option} {path}: cannot be written, it is {kind}; name a regular file")
    check_writable(path, option)
    if not make_parent and not path.parent.is_dir():
        raise DataError(f"{option} {path}: cannot be written, directory {path.parent} does not exist")
    if os.path.lexists(path) and not force:  # a dangling link too: the name is taken
        raise DataError(f"{option} {path}: already exists; pass --force to overwrite it")
    return path


def _run_dir(args: argparse.Namespace, spec: Spec, column: str) -> Path:
    """``--out`` (or the default run folder), checked before any work."""
    from common.runs.store import check_run_dir, default_run_dir

    out = args.out or default_run_dir(spec.name, column)
    return check_run_dir(_not_an_input(out, "--out", _inputs(args, [spec])))


def _check_data(spec: Spec, args: argparse.Namespace, mode: str) -> None:
    """What the data alone shows, before the framework import (seconds) and training."""
    from common.runs.inputs import check_inputs

    for warning in check_inputs(spec, mode, epochs_given=getattr(args, "epochs", None) is not None):
        print(f"warning: {printable(warning)}", file=sys.stderr)


def _progress(column: str, epochs: int, quiet: bool) -> Progress:
    """A line per epoch, in the same format for every column; on a terminal, a bar per epoch."""
    from common.present.progress import Progress

    return Progress(column, epochs, quiet)


def cmd_list(_: argparse.Namespace) -> int:
    specs = list_specs()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        print(f"{spec.name:<{width}}  {printable(spec.title)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from common.files.weights import load_weights
    from common.present.tables import format_summary
    from common.runs.runner import native_file, save_native_model, train_spec
    from common.runs.store import RUN_SPEC, write_run
    from common.runs.workers import in_column, per_family

    spec = _spec(args)
    out = _run_dir(args, spec, args.column)
    init = load_weights(args.init_from, spec.model) if args.init_from else None
    _check_data(spec, args, args.mode)
    layout = columns.layout_for(spec, args.column, args.layout)
    title = printable(spec.title)
    print(f"training {spec.name} ({title}) with {args.column}, {layout}, {args.mode}, {spec.train.epochs} epochs")
    _prepare_process(args, [args.column])
    progress = _progress(args.column, spec.train.epochs, args.quiet)
    with per_family([args.column]):  # here, unless this process runs Keras on another backend already
        try:
            callbacks = (progress.on_epoch, progress.on_step)
            result = in_column(args.column, train_spec, args.column, spec, layout, args.mode, *callbacks, init)
        finally:
            progress.close()
        print(format_summary(result))
        native = in_column(args.column, native_file, args.column)
        saved = (args.column, spec.model, result.weights)
        write_run(result, out, {native: lambda path: in_column(args.column, save_native_model, *saved, path)})
    print(f"wrote {printable(str(out))}/: metrics.json, loss.png, weights.npz, {RUN_SPEC}, {native}")
    return 0


def _layouts(spec: Spec, names: list[str], mode: str, override: str | None = None) -> dict[str, str]:
    """Each column's layout. In lockstep, a dropout on a feature map makes the plan's masks
    depend on the layout torch computes in (``common.replay.plan``): every column must
    then run in one layout, or they would train on different masks."""
    from common.replay.plan import layout_dependent_masks

    layouts = {name: columns.layout_for(spec, name, override) for name in names}
    on_maps = layout_dependent_masks(spec.model)
    if mode == "lockstep" and on_maps and len(set(layouts.values())) > 1:
        raise TwinspecError(
            f"lockstep: {spec.name} has dropout on feature maps ({', '.join(on_maps)}): torch draws their masks in"
            " its layout's memory order, so every column must run in one layout (--layout, or the spec's layout)"
        )
    return layouts


def cmd_compare(args: argparse.Namespace) -> int:
    from common.files.weights import load_weights
    from common.present.tables import format_comparison
    from common.runs.runner import train_spec
    from common.runs.store import write_comparison
    from common.runs.workers import in_column, per_family

    spec = _spec(args)
    names = columns.parse_columns(args.columns)
    layouts = _layouts(spec, names, args.mode, args.layout)
    out = _run_dir(args, spec, "compare")
    init = load_weights(args.init_from, spec.model) if args.init_from else None
    _check_data(spec, args, args.mode)
    title = printable(spec.title)
    print(f"comparing {spec.name} ({title}) in {', '.join(names)}, {args.mode}, {spec.train.epochs} epochs")
    results: dict[str, RunResult] = {}
    _prepare_process(args, names)
    with per_family(names):  # each family's columns in a process of its own
        for name in names:
            progress = _progress(name, spec.train.epochs, args.quiet)
            layout = layouts[name]
            callbacks = {"on_epoch": progress.on_epoch, "on_step": progress.on_step}
            results[name] = in_column(name, train_spec, name, spec, layout, args.mode, init=init, **callbacks)
        lockstep = _lockstep_against_reference(spec, results, init) if args.mode == "lockstep" else None
    print(format_comparison(results, lockstep, columns.REFERENCE))
    write_comparison(results, lockstep, out, columns.REFERENCE)
    print(f"wrote {printable(str(out))}/: compare.json, loss.png")
    return 0


def _lockstep_against_reference(
    spec: Spec, results: dict[str, RunResult], init: Weights | None = None
) -> dict[str, LockstepParity] | None:
    """Each run against the reference's, when the reference ran too, judged by the noise
    floor: the reference once more, with round-off injected (``common.parity.checks``)."""
    from common.parity.checks import judge_lockstep

    reference = results.get(columns.REFERENCE)
    if reference is None:
        return None
    print(f"measuring the noise floor: {columns.REFERENCE} again, with round-off injected at every step")
    return judge_lockstep(spec, reference.layout, results, init)


def cmd_show(args: argparse.Namespace) -> int:
    spec = _spec(args, args.show_model)
    if args.out is not None:
        from common.files.atomic import atomic_write

        out = _output_file(args.out, "--out", _inputs(args, [spec]), args.force)
        listing = columns.load(args.column, "listing").listing(spec, args.style)
        try:
            with atomic_write(out, "w", overwrite=args.force) as handle:
                handle.write(listing)
        except OSError as exc:
            raise DataError(f"--out {out}: cannot be written ({exc.strerror or exc})") from None
        print(f"wrote {out}")
        return 0
    print(columns.load(args.column, "listing").listing(spec, args.style), end="")
    if args.parameters:  # builds the model in its framework: the listing alone needs none
        from common.present.tables import format_parameter_table

        build = columns.load(args.column, "build")
        layout = columns.layout_for(spec, args.column)
        rows = build.parameter_table(build.build_model(spec.model, layout))
        title = f"Parameters, as {columns.column(args.column).title} holds them ({layout}):"
        print("\n" + "\n".join(f"# {line}" for line in format_parameter_table(rows, title).splitlines()))
    return 0


def cmd_notebook(args: argparse.Namespace) -> int:
    """The columns' notebooks (``--backends``) and the lecture's, written whole into ``--out`` (and run there)."""
    from common.present import notebook
    from common.runs.store import write_folder

    spec = _spec(args, args.notebook_model)
    out = _not_an_input(args.out or Path("notebooks") / spec.name, "--out", _inputs(args, [spec]))
    if not args.force and out.is_dir() and any(out.iterdir()):
        raise DataError(f"--out {out}: already holds files; pass --force to replace its notebooks")

    names = columns.parse_columns(args.columns)  # the lecture's notebook runs the five of compare's default

    def write(folder: Path) -> None:
        for name, made in notebook.notebooks(spec, names).items():
            if args.execute:
                print(f"running {name}", flush=True)
                made = notebook.execute(made, folder, args.timeout)
            notebook.write(made, folder / name)

    write_folder(out, write, force=args.force)
    written = ", ".join(notebook.notebooks(spec, names))
    print(f"wrote {written} in {out}" + (", with their outputs" if args.execute else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from common.files.weights import save_weights

    spec = _spec(args)
    _output_file(args.weights, "--weights", _inputs(args, [spec]), args.force)
    save_weights(columns.load(args.column, "forward").initial_weights(spec.model), args.weights, args.force)
    where = printable(str(args.weights))
    print(f"wrote {args.column}'s initial weights for {spec.name} (seed {spec.model.seed}) to {where}")
    if args.command in RENAMED:
        new = RENAMED[args.command]
        print(f"note: `{args.command}` is now `{new}`; `deploy` exports a trained model", file=sys.stderr)
    return 0


def _deployed_run(folder: Path, fmt: str | None = None):
    """A run folder to export: refused with one line if it is not a run, or if its column
    has no such format."""
    from common.deploy.formats import column_formats
    from common.runs.saved import load_run

    saved = load_run(folder)
    column = saved.column
    if column not in columns.COLUMNS or saved.metrics.get("layout") not in LAYOUTS:
        raise DataError(f"{folder / 'metrics.json'}: names no registered column and layout ({column!r})")
    if fmt is not None and fmt not in column_formats(column):
        have = ", ".join(column_formats(column)) or "nothing"
        raise DataError(f"--format {fmt}: {folder} is a {column} run, and {column} exports {have}")
    return saved


def _output_folder(path: Path, option: str, inputs: list[tuple[str, Path]], force: bool) -> Path:
    """``_output_file`` for an output that is a folder (a SavedModel): one that exists is
    replaced only with ``--force``, and only if it is a SavedModel ``deploy`` wrote."""
    from common.deploy.files import read_info
    from common.runs.store import check_writable

    _not_an_input(path, option, inputs)
    check_writable(path, option)
    if not path.parent.is_dir():
        raise DataError(f"{option} {path}: cannot be written, directory {path.parent} does not exist")
    if path.exists() and not force:
        raise DataError(f"{option} {path}: already exists; pass --force to overwrite it")
    if path.exists():
        if not path.is_dir():
            raise DataError(f"{option} {path}: is a file; a SavedModel is a folder")
        read_info("saved_model", path)  # refuses a folder that deploy did not write
    return path


def cmd_deploy(args: argparse.Namespace) -> int:
    from common.deploy.export import deploy_run
    from common.deploy.formats import check_out_name

    saved = _deployed_run(args.deploy_run, args.format)
    column = saved.column
    check_out_name(args.out, args.format)
    inputs = [("the run", path) for path in args.deploy_run.iterdir()]
    if FORMATS[args.format].suffix:
        _output_file(args.out, "--out", inputs, args.force)
    else:
        _output_folder(args.out, "--out", inputs, args.force)
    print(f"exporting {saved.spec.name} from {args.deploy_run} ({column}, {saved.metrics['layout']}) to {args.format}")
    _prepare_process(args, [column])
    checked = deploy_run(saved, args.format, args.out, args.force)
    print(
        f"wrote {args.out}: uint8 {saved.metrics['layout']} images in, {saved.spec.name}'s outputs out"
        f" (pixels / 255 and the run's normalisation inside); in {checked.runtime} on {checked.total} random"
        f" images: max |difference| from the trained model {checked.max_abs_diff:.2g} (bound {checked.bound:.2g}),"
        f" {checked.agreeing}/{checked.total} classes the same"
    )
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from common.files.atomic import write_json
    from common.parity.checks import parity_report, worst_verdict
    from common.present.tables import parity_matrix
    from common.runs.workers import per_family

    if args.check == "deploy" or args.runs:
        return _parity_deploy(args)
    if args.all and (args.model or args.data):
        raise TwinspecError("parity --all runs every shipped spec: leave out --model and --data")
    names = columns.parse_columns(args.columns)
    if names == [columns.REFERENCE]:
        raise TwinspecError(f"--backends: name a column besides {columns.REFERENCE}, the reference it checks against")
    specs = [_spec(args, spec.name) for spec in list_specs()] if args.all else [_spec(args)]
    if args.json:
        _output_file(args.json, "--json", _inputs(args, specs), args.force)
    checks = CHECKS if args.check == "all" else (args.check,)
    for spec in specs:
        _check_data(spec, args, "lockstep" if "lockstep" in checks else "native")
    _prepare_process(args, [columns.REFERENCE, *names])
    with per_family([columns.REFERENCE, *names]):  # each family's columns in a process of its own
        reports = [parity_report(spec, checks, names, args.layout, args.seed or 0) for spec in specs]
    print(parity_matrix(reports))
    verdict = worst_verdict(report["verdict"] for report in reports)
    passed = verdict == "passed"
    chaotic = [report["model"] for report in reports if report["verdict"] == "chaotic"]
    not_judged = f"NOT JUDGED: chaotic in float32 ({', '.join(chaotic)})"
    print({"passed": "PASSED", "FAILED": "FAILED"}.get(verdict, not_judged))
    if args.json:
        write_json(args.json, {"models": reports, "passed": passed} if args.all else reports[0], args.force)
    return 0 if passed else 1


def _parity_deploy(args: argparse.Namespace) -> int:
    """``parity --check deploy RUN_DIR...``: every run's exports against its trained model."""
    from common.files.atomic import write_json
    from common.parity.deployed import check_deploy, run_images
    from common.present.tables import deploy_table

    if args.check != "deploy" or not args.runs:
        raise TwinspecError("parity: RUN_DIR folders go with --check deploy, and --check deploy needs them")
    given = [option for option in ("model", "data", "seed", "layout") if getattr(args, option) is not None]
    if args.all or given:
        option = (given or ["all"])[0]
        raise TwinspecError(f"parity --check deploy reads the spec and data of its runs: leave out --{option}")
    saved = [_deployed_run(folder) for folder in args.runs]
    first = saved[0]
    for run in saved[1:]:
        same = (run.spec.name, run.metrics.get("data"), run.metrics["classes"])
        if same != (first.spec.name, first.metrics.get("data"), first.metrics["classes"]):
            raise DataError(
                f"{run.folder}: a run of {run.spec.name} on {run.metrics.get('data') or 'generated data'}, but"
                f" {first.folder} is one of {first.spec.name} on {first.metrics.get('data') or 'generated data'};"
                " the runs go side by side, so give runs of one spec on the same data"
            )
    if args.json:
        _output_file(args.json, "--json", [("a run", run.folder) for run in saved], args.force)
    print(f"deployment parity, {first.spec.name}: {', '.join(str(run.folder) for run in saved)}")
    _prepare_process(args, columns.ordered({run.column for run in saved}), shared=True)
    rows = check_deploy(sorted(saved, key=lambda run: columns.names().index(run.column)))
    images = len(run_images(first))
    print(deploy_table(first.spec.name, images, rows))
    passed = all(row.passed for row in rows)
    print("PASSED" if passed else "FAILED")
    if args.json:
        figures = {"model": first.spec.name, "runs": [str(run.folder) for run in saved], "images": images}
        write_json(args.json, {**figures, "exports": [row.figures() for row in rows], "passed": passed})
    return 0 if passed else 1


def cmd_report(args: argparse.Namespace) -> int:
    import numpy as np

    from common.parity.checks import check_forward
    from common.present.lecture import trained_side, write_lecture_report
    from common.present.tables import format_comparison
    from common.runs.store import default_run_dir
    from common.runs.workers import in_column, per_family

    spec = _spec(args, args.report_model)
    names = columns.parse_columns(args.columns)
    layouts = _layouts(spec, names, args.mode)
    out = args.out or default_run_dir(spec.name, "report", suffix=".html")
    out = _output_file(out, "--out", _inputs(args, [spec]), args.force, make_parent=args.out is None)
    _check_data(spec, args, args.mode)
    title = printable(spec.title)
    print(f"report on {spec.name} ({title}): training {', '.join(names)}, {args.mode}, {spec.train.epochs} epochs")
    activation_range = np.linspace(-5, 5, 201, dtype=np.float32)  # 0 is one of the points: relu's kink shows
    _prepare_process(args, names)
    sides = {}
    with per_family(names):  # each family's columns in a process of its own
        for name in names:
            progress = _progress(name, spec.train.epochs, args.quiet)
            side = (name, spec, layouts[name], args.mode, progress.on_epoch, progress.on_step, activation_range)
            sides[name] = in_column(name, trained_side, *side)
        runs = {name: side.result for name, side in sides.items()}
        lockstep = _lockstep_against_reference(spec, runs) if args.mode == "lockstep" else None
        forward = check_forward(spec, names)
    print(format_comparison(runs, lockstep, columns.REFERENCE))
    titles = {name: columns.column(name).title for name in names}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_lecture_report(spec, sides, forward, lockstep, out, titles, args.force)
    print(f"wrote {printable(str(out))}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from common.deploy.formats import exported_format
    from common.runs.metrics import class_probabilities
    from common.runs.saved import image_files, load_run, prepare_images

    if exported_format(args.run_dir) is not None and not (args.run_dir / "metrics.json").exists():
        return _predict_exported(args)
    saved = load_run(args.run_dir)
    files = image_files(args.images)
    column = args.column or saved.column
    x = prepare_images(files, saved)
    layout = columns.layout_for(saved.spec, column)
    outputs = columns.load(column, "forward").forward(saved.spec.model, layout, saved.weights, x)
    probabilities = class_probabilities(outputs, saved.spec.train.loss)
    for path, p in zip(files, probabilities):
        if not np.isfinite(p).all():  # finite weights whose products overflow float32
            raise DataError(f"{args.run_dir / 'weights.npz'}: the model's outputs for {path} are not finite numbers")
    print(f"{saved.spec.name} from {printable(str(args.run_dir))}, in {column} ({layout}):")
    _print_predictions(files, probabilities, saved.metrics["classes"])
    return 0


def _predict_exported(args: argparse.Namespace) -> int:
    """``predict`` with a file of ``deploy``: the images as uint8 pixels, in the file's
    layout, through its runtime (the preprocessing is inside the file)."""
    from common.data.prep import to_layout
    from common.deploy.files import read_info
    from common.deploy.formats import exported_format
    from common.deploy.runtimes import open_exported
    from common.runs.metrics import class_probabilities
    from common.runs.saved import image_files, read_images

    if args.column is not None:
        raise TwinspecError(f"--backend: {args.run_dir} runs in its own runtime; --backend goes with a run folder")
    info = read_info(exported_format(args.run_dir), args.run_dir)  # before any framework loads
    files = image_files(args.images)
    images = read_images(files, info.input_shape, info.dataset)
    loader = FORMATS[info.format].loader  # a column's framework runs .pt2 and SavedModel files
    if loader is not None:
        _prepare_process(argparse.Namespace(threads=None, started=args.started), [loader])
    exported = open_exported(args.run_dir)
    probabilities = class_probabilities(exported.predict(to_layout(images, info.layout)), info.loss)
    where = printable(str(args.run_dir))
    print(f"{info.model} from {where}, {info.format} in {exported.runtime} ({info.layout}, uint8 pixels):")
    _print_predictions(files, probabilities, list(info.classes))
    return 0


def _print_predictions(files: list[Path], probabilities, classes: list[str]) -> None:
    """One line per image, its class and every class's probability; names printed escaped
    (they come from files and folders: class names, image names)."""
    import numpy as np

    classes = [printable(name) for name in classes]
    for path, p in zip(files, probabilities):
        ranked = "  ".join(f"{classes[c]} {p[c]:.3f}" for c in np.argsort(-p, kind="stable"))
        print(f"{printable(str(path))}: {classes[int(np.argmax(p))]}  ({ranked})")


def limit_threads(threads: int | None) -> None:
    """``--threads N``: both frameworks read these variables when they load, which no command
    has done yet (run.py imports them lazily). A different count can change round-off."""
    if threads is not None:
        for variable in THREAD_VARIABLES:
            os.environ[variable] = str(threads)
        xla_threads(threads)


def _prepare_process(args: argparse.Namespace, names: list[str], shared: bool = False) -> None:
    """Before the columns ``names`` load: torch's thread count (and JAX's, XLA's) for the load
    the machine is under (``common.threads``), unless ``--threads`` or the environment sets one (a family's
    worker inherits it); the environment a lone family needs; and, ``shared`` by several
    families in this one process, the import order they need."""
    families = {columns.column(name).family for name in names}
    # the frameworks they compute in, by their roots (Keras on torch is torch's, on JAX JAX's)
    frameworks = {columns.FAMILIES[family].package.removesuffix("_impl") for family in families}
    if args.threads is None and frameworks & {"torch", "jax"}:
        chosen = spare_torch_threads(args.started)
        if chosen is not None and "jax" in frameworks:
            xla_threads(chosen.threads)  # XLA's CPU threads wait at each op as torch's do
        if chosen is not None:
            plural = "s" if chosen.threads > 1 else ""
            who = " and ".join(framework for framework in ("torch", "jax") if framework in frameworks)
            print(
                f"{who}: {chosen.threads} thread{plural} instead of {chosen.cores}: other processes are keeping"
                f" {chosen.held:.1f} of the {chosen.cpus} CPUs busy, and {who}'s threads wait for each other at every"
                f" step (--threads {chosen.cores} keeps {chosen.cores}; the count changes {who}'s last digits)"
            )
    if len(families) == 1 and columns.loads_here(family := families.pop()):
        columns.enter(family)  # its environment (KERAS_BACKEND), over what the shell says
    if shared:
        columns.share_process(names)


def _check_environment() -> None:
    """What the process starts in: a working folder that still exists (relative paths are
    found from it, and without it torch's oneMKL aborts the process as torch loads), and
    matplotlib's backend: twinspec only writes image files, so Agg, whatever ``MPLBACKEND``
    names (a name matplotlib does not know fails only when the first figure is saved,
    after training)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        where = printable(os.environ.get("PWD", "the working folder"))
        raise TwinspecError(f"{where}: the working folder no longer exists (deleted meanwhile); cd to one that does")
    os.environ["MPLBACKEND"] = "Agg"


def main(argv: list[str] | None = None) -> int:
    started: CpuTimes | None = cpu_times()  # the load a run finds is judged from here on
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, *RENAMED, "-h", "--help"):
        argv.insert(0, "train")  # "run.py --backend keras" means "run.py train --backend keras"
    commands = {
        "train": cmd_train,
        "compare": cmd_compare,
        "show": cmd_show,
        "notebook": cmd_notebook,
        "init-weights": cmd_export,
        "export": cmd_export,
        "deploy": cmd_deploy,
        "parity": cmd_parity,
        "report": cmd_report,
        "predict": cmd_predict,
        "list": cmd_list,
    }
    _interrupt_once()
    try:
        with guarded_stdout():
            args = build_parser().parse_args(argv)
            args.started = started
            limit_threads(getattr(args, "threads", None))
            _check_environment()
            return commands[args.command](args)
    except StdoutClosed:  # the reader has all it wanted (run.py show | head): end quietly, as SIGPIPE would
        discard_stdout()
        return 128 + signal.SIGPIPE
    except TwinspecError as exc:
        if isinstance(exc, StdoutFailed):
            discard_stdout()
        _tell(f"error: {printable(str(exc))}")
        return 2
    except (KeyboardInterrupt, Terminated) as exc:
        _ignore_interrupts()  # again: Lightning puts back the handler it found when it stops
        _tell("interrupted; nothing was written")
        return 130 if isinstance(exc, KeyboardInterrupt) else 128 + signal.SIGTERM


def _tell(line: str) -> None:
    """One line on stderr, unless stderr is gone too (a closed pipe, a full disk)."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
