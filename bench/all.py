#!/usr/bin/env python3
"""Every benchmark, one table (``make bench``): per model, every registered column's
worker runs the trainer against its plain loop, against the other columns, and against
its framework's peak; each exported format's latency against its framework's eager
forward; then start-up, Keras' lockstep against its native mode, and what Lightning's
Trainer costs per step against the book's loop (``lightning_overhead.py``).

Every figure is a ratio of sides timed in turn in the same run (median, and the range
over the rounds), so the table holds on a loaded machine; absolute seconds are shown only
where a target is stated in seconds. The table is printed, and written to
``docs/benchmarks.md`` stamped with the date, the CPU, the cores, Python's and the
frameworks' versions and the command (``bench/results.py``). Exits 1 if a target was
missed.

    python bench/all.py [--models M,...] [--rounds R] [--columns A,B,...] [--out FILE | --out -]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import columns_race  # noqa: E402
import deploy_vs_eager  # noqa: E402
import peak  # noqa: E402
import results  # noqa: E402
import startup  # noqa: E402
import trainer_vs_loop  # noqa: E402
from driver import ROUNDS, cli, measure_models  # noqa: E402
from specs import MODELS  # noqa: E402
from table import Row, render  # noqa: E402

RESULTS = HERE.parent / "docs" / "benchmarks.md"
OVERHEAD = "Lightning's Trainer against the book's loop, per step"


def lockstep_rows(rounds: int) -> list[Row]:
    """``lockstep_vs_native.py`` in a process of its own (it loads Keras)."""
    command = [sys.executable, str(HERE / "lockstep_vs_native.py"), "--json", "--rounds", str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rows = [Row(**json.loads(line)) for line in done.stdout.splitlines() if line.startswith("{")]
    if not rows:
        rows = [Row("keras lockstep / native", "all", f"failed: {done.stderr.strip()[-200:]}", "runs", False)]
    return rows


def overhead_table(args: argparse.Namespace) -> tuple[str, list[Row]]:
    """``lightning_overhead.py`` in a process of its own (it loads torch and Lightning): its
    table, and a missed row if it failed. Its specs are its own unless ``--models`` chose."""
    specs = [] if args.models == ",".join(MODELS) else args.models.split(",")
    command = [sys.executable, str(HERE / "lightning_overhead.py"), *specs, "--rounds", str(args.rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return done.stdout, []
    failure = (done.stderr.strip().splitlines() or ["no output"])[-1][-200:]
    return done.stdout, [Row("lightning overhead", "lightning_overhead.py", f"failed: {failure}", "runs", False)]


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=str(RESULTS),
        help="the results file, written whole (default: docs/benchmarks.md); '-' prints the table only",
    )


def partial(args: argparse.Namespace) -> str:
    """What a run with fewer models, rounds or columns than ``make bench`` must say of itself."""
    if args.models == ",".join(MODELS) and args.rounds == ROUNDS and not args.columns:
        return ""
    return (
        f"A partial run: `make bench` measures --models {','.join(MODELS)} with --rounds {ROUNDS} on every"
        " column; this one covers less, and with fewer rounds its figures vary more."
    )


def command_line(args: argparse.Namespace) -> str:
    """The run's options, every one spelled out, for the stamp."""
    line = f"python bench/all.py --models {args.models} --rounds {args.rounds}"
    return line + (f" --columns {args.columns}" if args.columns else "")


def main(argv: list[str] | None = None) -> int:
    started, load = time.monotonic(), results.load_average()
    args = cli(__doc__, options, argv)
    rows = measure_models(args, [trainer_vs_loop.measure, columns_race.measure, peak.measure])
    rows = sorted(rows, key=lambda row: [r.section for r in rows].index(row.section))  # sections together
    rows += deploy_vs_eager.measure(args)
    rows += startup.measure(args.rounds)
    rows += lockstep_rows(args.rounds)
    overhead, failed = overhead_table(args)
    rows += failed
    print(render(rows))
    print(f"\n{OVERHEAD}\n{overhead}", end="")
    if args.out != "-":
        took = f"took {(time.monotonic() - started) / 60:.0f} min"
        where = results.stamp(command_line(args), took, load, note=partial(args))
        results.write(Path(args.out), rows, where, {OVERHEAD: overhead} if overhead else None)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
