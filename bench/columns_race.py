#!/usr/bin/env python3
"""The columns against each other: each column's trainer, its mean epoch in turn, on the same
model and MNIST-sized generated data, each in its own process (torch in nhwc too); the
ratio to the reference column (torch, nchw) is taken per round. Target: torch no slower than Keras on
mnist_cnn and lenet (keras / torch >= 1.0). Beside it, what each trainer's first call took
beyond its steady epochs: JAX's compiling, reported apart from the epoch it speeds up.

    python bench/columns_race.py [--models M,...] [--rounds R]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, run_sections  # noqa: E402
from table import Row  # noqa: E402
from timing import alternate, ratio  # noqa: E402
from worker import EPOCHS  # noqa: E402

from common import columns  # noqa: E402

SECTION = "column / torch, epoch"
FIRST = "first call: compiling, beyond the steady epochs"
LEVEL_WITH_KERAS = ("mnist_cnn", "lenet")  # where torch must be at least as fast as Keras


def measure(workers: dict[str, Worker], model: str, rounds: int) -> list[Row]:
    """Every column in its own layout, and the reference in nhwc too: like with like for the
    columns that compute channels-last (docs/speed.md)."""
    reference = columns.REFERENCE
    sides = dict(workers)
    if reference in workers and workers[reference].ready["layout"] != "nhwc":
        sides[f"{reference} nhwc"] = Worker(reference, model, "nhwc")
    try:
        times = alternate({name: (lambda w=worker: w.time("trainer")) for name, worker in sides.items()}, rounds)
    finally:
        for name, worker in sides.items():
            if name not in workers:
                worker.close()
    rows = []
    for name in sides:
        if name == reference or reference not in sides:
            continue
        r = ratio(times[name], times[reference])
        judged = name == "keras" and model in LEVEL_WITH_KERAS
        rows.append(
            Row(SECTION, f"{name} {model}", str(r), ">= 1.0" if judged else "", r.median >= 1.0 if judged else None)
        )
    return rows + [_first_call(name, model, worker, times[name]) for name, worker in sides.items()]


def _first_call(name: str, model: str, worker: Worker, steady: list[float]) -> Row:
    """What the trainer's first call (``EPOCHS`` epochs) took beyond as many steady epochs:
    compiling its steps (JAX's XLA, Keras' and TensorFlow's ``tf.function``), told apart from
    the steady epoch the ratios compare. Seconds, since it is paid once per run."""
    first, epoch = worker.ready["first"]["trainer"] * EPOCHS, statistics.median(steady)
    beyond = max(0.0, first - EPOCHS * epoch)  # a first call within the steady epochs' noise costs nothing
    figure = f"{beyond:.1f} s (first {EPOCHS} epochs {first:.1f} s, then {epoch:.2f} s an epoch)"
    return Row(FIRST, f"{name} {model}", figure)


if __name__ == "__main__":
    sys.exit(run_sections(cli(__doc__), [measure]))
