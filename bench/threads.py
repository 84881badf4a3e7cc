#!/usr/bin/env python3
"""Thread settings under contention: each column's trainer epoch with its framework's own
threads (the baseline), with twinspec's default (``common.threads``: torch gets a thread
per core that other processes leave free), with one thread, and with OpenMP's passive
wait policy, on a quiet machine and with one core held by a busy process (what another
user's job does). Every setting and load is a side of its own, and all take turns, epoch
by epoch, in the same rounds: the busy process is stopped (SIGSTOP) except while a busy
side is timed, and each side's worker started under its load, as a run would. Rows: each
setting against the baseline under the same load, and each setting's busy epoch against
its quiet one (the cliff: twinspec's default must stay under 3 times).

    python bench/threads.py [--models M,...] [--rounds R] [--columns C,...]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, selected_columns  # noqa: E402
from table import Row, render  # noqa: E402
from timing import alternate, ratio  # noqa: E402

from common import columns  # noqa: E402
from common.threads import THREAD_VARIABLES, TORCH_THREADS, allowed_cpus, physical_cores  # noqa: E402

ONE_THREAD = dict.fromkeys(THREAD_VARIABLES, "1")
OWN = str(physical_cores(allowed_cpus()))  # torch's own count, named so that twinspec picks none
DEFAULT = "twinspec's default"
SETTINGS = {  # per family; the first is the baseline
    "torch": {
        "torch's own": {TORCH_THREADS: OWN},
        DEFAULT: {},
        "1 thread": ONE_THREAD,
        "OMP_WAIT_POLICY=passive": {TORCH_THREADS: OWN, "OMP_WAIT_POLICY": "PASSIVE"},
    },
    "tensorflow": {DEFAULT: {}, "1 thread": ONE_THREAD},  # twinspec leaves TensorFlow's counts as they are
}
QUIET, BUSY = "quiet", "one core busy"
CLIFF = 3.0  # the most a held core may slow twinspec's default down


class BusyCore:
    """A process that keeps one core busy while held, and sleeps (stopped) otherwise.

    A fresh interpreter, not a fork: the bench and the tests have torch's and TensorFlow's
    threads running, and a fork of a threaded process may deadlock (Python 3.12 warns)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        os.kill(self.process.pid, signal.SIGSTOP)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        os.kill(self.process.pid, signal.SIGCONT)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGSTOP)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _ratios(name: str, model: str, rounds: int, busy: BusyCore) -> list[Row]:
    settings = SETTINGS[columns.column(name).family]
    workers: dict[tuple[str, str], Worker] = {}
    try:
        for load in (QUIET, BUSY):
            for setting, env in settings.items():
                with busy.held() if load == BUSY else contextlib.nullcontext():
                    workers[setting, load] = Worker(name, model, env=env)

        def side(key: tuple[str, str]) -> float:
            with busy.held() if key[1] == BUSY else contextlib.nullcontext():
                return workers[key].time("trainer")

        times = alternate({key: (lambda key=key: side(key)) for key in workers}, rounds)
    finally:
        for worker in workers.values():
            worker.close()

    def label(setting: str, load: str) -> str:
        chose = workers[setting, load].ready["torch_threads"]
        return f"{setting} ({chose} thread{'s' * (chose > 1)})" if chose is not None else setting

    baseline = next(iter(settings))
    rows = []
    for load in (QUIET, BUSY):
        for setting in settings:
            if setting != baseline:
                r = ratio(times[setting, load], times[baseline, load])
                rows.append(Row(f"threads, {load}", f"{name} {model} {label(setting, load)} / {baseline}", str(r)))
    for setting in settings:
        r = ratio(times[setting, BUSY], times[setting, QUIET])
        judged = setting == DEFAULT
        rows.append(
            Row(
                "threads, the cliff",
                f"{name} {model} {label(setting, BUSY)}, {BUSY} / {QUIET}",
                str(r),
                f"< {CLIFF:g}x" if judged else "",
                r.median < CLIFF if judged else None,
            )
        )
    return rows


def measure(models: list[str], names: list[str], rounds: int) -> list[Row]:
    busy = BusyCore()
    try:
        return [row for model in models for name in names for row in _ratios(name, model, rounds, busy)]
    finally:
        busy.close()


def main() -> int:
    args = cli(__doc__)
    rows = measure(args.models.split(","), selected_columns(args), args.rounds)
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
