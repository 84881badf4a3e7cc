#!/usr/bin/env python3
"""Keras lockstep against Keras native, epoch for epoch, on the same spec and machine.

Lockstep replays common's batch plan through the same compiled ``fit`` as native mode;
the target is at most 1.5 times native's epoch time. Both are timed in this one run,
alternating, after one warm-up epoch each (tracing), and the ratio is taken per round, so
it holds on a loaded machine too. Exits 1 if a ratio misses the target. ``--json`` prints
the table's rows as JSON lines instead (``bench/all.py`` reads them).

    python bench/lockstep_vs_native.py [SPEC ...] [--epochs N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from table import Row, render  # noqa: E402
from timing import alternate, ratio  # noqa: E402

from common.runs.runner import make_trainer  # noqa: E402
from spec import load_spec, resolve_spec  # noqa: E402

TARGET = 1.5
DEFAULT_SPECS = ("relu", "cnn1", "mnist_cnn", "fc_tanh")
SECTION = "keras lockstep / native"


def epoch_seconds(trainer, epochs: int) -> float:
    start = time.perf_counter()
    trainer.train(epochs, seed=None)
    return (time.perf_counter() - start) / epochs


def measure(names: list[str], epochs: int, rounds: int) -> list[Row]:
    rows = []
    for name in names:
        spec = load_spec(resolve_spec(name))
        needed = 1 + epochs * rounds  # the plan must cover every epoch lockstep trains
        spec = spec.with_overrides(epochs=needed)
        trainers = {mode: make_trainer("keras", spec, "nhwc", mode) for mode in ("native", "lockstep")}
        for trainer in trainers.values():
            trainer.train(1, seed=spec.train.seed)  # warm-up: tracing and the first pipeline
        times = alternate(
            {mode: (lambda t=trainer: epoch_seconds(t, epochs)) for mode, trainer in trainers.items()}, rounds
        )
        r = ratio(times["lockstep"], times["native"])
        rows.append(Row(SECTION, name, str(r), f"<= {TARGET}", r.median <= TARGET))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=DEFAULT_SPECS, help="spec names (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timing (default: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timings per mode (default: 3)")
    parser.add_argument("--json", action="store_true", help="the rows as JSON lines")
    args = parser.parse_args()
    rows = measure(args.specs, args.epochs, args.rounds)
    if args.json:
        for row in rows:
            print(json.dumps(dataclasses.asdict(row)))
    else:
        print(render(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
