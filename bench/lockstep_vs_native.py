#!/usr/bin/env python3
"""Keras lockstep against Keras native, epoch for epoch, on the same spec and machine.

Lockstep replays common's batch plan through the same compiled ``fit`` as native mode;
the target is at most 1.5 times native's epoch time. Both are timed in this one run,
alternating, after one warm-up epoch each (tracing), and the medians are compared, so
the ratio holds on a loaded machine too. Exits 1 if a ratio misses the target.

    python bench/lockstep_vs_native.py [SPEC ...] [--epochs N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keras_impl.runner import make_trainer  # noqa: E402
from spec import load_spec, resolve_spec  # noqa: E402

TARGET = 1.5
DEFAULT_SPECS = ("relu", "cnn1", "mnist_cnn", "fc_tanh")


def epoch_seconds(trainer, epochs: int) -> float:
    start = time.perf_counter()
    trainer.train(epochs, seed=None)
    return (time.perf_counter() - start) / epochs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=DEFAULT_SPECS, help="spec names (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timing (default: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timings per mode (default: 3)")
    args = parser.parse_args()
    print(f"{'spec':<12} {'native s/epoch':>15} {'lockstep s/epoch':>17} {'ratio':>7}  (target <= {TARGET})")
    worst = 0.0
    for name in args.specs:
        spec = load_spec(resolve_spec(name))
        needed = 1 + args.epochs * args.rounds  # the plan must cover every epoch lockstep trains
        spec = spec.with_overrides(epochs=needed)
        trainers = {mode: make_trainer(spec, "nhwc", mode) for mode in ("native", "lockstep")}
        for trainer in trainers.values():
            trainer.train(1, seed=spec.train.seed)  # warm-up: tracing and the first pipeline
        times: dict[str, list[float]] = {mode: [] for mode in trainers}
        for _ in range(args.rounds):
            for mode, trainer in trainers.items():
                times[mode].append(epoch_seconds(trainer, args.epochs))
        native, lockstep = (statistics.median(times[mode]) for mode in ("native", "lockstep"))
        ratio = lockstep / native
        worst = max(worst, ratio)
        print(f"{name:<12} {native:15.3f} {lockstep:17.3f} {ratio:7.2f}", flush=True)
    print(f"worst ratio {worst:.2f}: {'within' if worst <= TARGET else 'ABOVE'} the target of {TARGET}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
