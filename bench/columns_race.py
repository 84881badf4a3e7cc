#!/usr/bin/env python3
"""The columns against each other: each column's trainer, its mean epoch in turn, on the same
model and MNIST-sized generated data, each in its own process (torch in nhwc too); the
ratio to the reference column (torch, nchw) is taken per round. Target: torch no slower than Keras on
mnist_cnn and lenet (keras / torch >= 1.0).

    python bench/columns_race.py [--models M,...] [--rounds R]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, run_sections  # noqa: E402
from table import Row  # noqa: E402
from timing import alternate, ratio  # noqa: E402

from common import columns  # noqa: E402

SECTION = "column / torch, epoch"
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
    return rows


if __name__ == "__main__":
    sys.exit(run_sections(cli(__doc__), [measure]))
