#!/usr/bin/env python3
"""Thread settings under contention: each column's trainer epoch with its framework's
default threads, with one thread, and with OpenMP's passive wait policy, first as the
machine stands, then with one core held by a busy process (what another user's job does).
Workers with each setting take turns, epoch by epoch; each ratio is to the default
setting in the same rounds.

    python bench/threads.py [--models M,...] [--rounds R] [--columns C,...]
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, selected_columns  # noqa: E402
from table import Row, render  # noqa: E402
from timing import alternate, ratio  # noqa: E402


SETTINGS = {
    "default": {},
    "1 thread": {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}


def _spin() -> None:
    while True:
        pass


def measure(models: list[str], names: list[str], rounds: int) -> list[Row]:
    rows = []
    for model in models:
        for name in names:
            workers = {setting: Worker(name, model, env=env) for setting, env in SETTINGS.items()}
            try:
                for load in ("as it stands", "one core busy"):
                    busy = multiprocessing.Process(target=_spin, daemon=True) if load == "one core busy" else None
                    if busy is not None:
                        busy.start()
                    try:
                        sides = {setting: (lambda w=worker: w.time("trainer")) for setting, worker in workers.items()}
                        times = alternate(sides, rounds)
                    finally:
                        if busy is not None:
                            busy.terminate()
                    for setting in SETTINGS:
                        if setting != "default":
                            r = ratio(times[setting], times["default"])
                            rows.append(Row(f"threads, {load}", f"{name} {model} {setting} / default", str(r)))
            finally:
                for worker in workers.values():
                    worker.close()
    return rows


def main() -> int:
    args = cli(__doc__)
    print(render(measure(args.models.split(","), selected_columns(args), args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
