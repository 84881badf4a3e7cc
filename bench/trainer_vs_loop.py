#!/usr/bin/env python3
"""Each column's trainer (``StepByStep``, as ``run.py`` trains) against the plain loop a
user of its framework would write (``bench/loops.py``), same model, data and batch size.

Both sides run in the column's own worker process, in turn, each reporting its mean epoch
(training and validation) over ``worker.EPOCHS`` epochs in one call; the ratio trainer /
loop is taken per round. Target: at most 1.10.

    python bench/trainer_vs_loop.py [--models M,...] [--rounds R]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, run_sections  # noqa: E402
from table import Row  # noqa: E402
from timing import alternate, ratio  # noqa: E402

TARGET = 1.10
SECTION = "trainer / plain loop"


def measure(workers: dict[str, Worker], model: str, rounds: int) -> list[Row]:
    rows = []
    for name, worker in workers.items():
        what = f"{name} {model}"
        if "loop" not in worker.sides:
            rows.append(Row(SECTION, what, "no plain loop for this column in bench/loops.py", f"<= {TARGET}", False))
            continue
        times = alternate({side: (lambda side=side, w=worker: w.time(side)) for side in ("trainer", "loop")}, rounds)
        r = ratio(times["trainer"], times["loop"])
        rows.append(Row(SECTION, what, str(r), f"<= {TARGET}", r.median <= TARGET))
    return rows


if __name__ == "__main__":
    sys.exit(run_sections(cli(__doc__), [measure]))
