"""Torch's thread count for the load a run starts under (``common.threads``): read from the
kernel's accounting, less the run's own CPU time, and said aloud whenever it differs from
torch's own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_python

from common.threads import (
    THREAD_VARIABLES,
    CpuTimes,
    allowed_cpus,
    cpu_times,
    held_cores,
    physical_cores,
    spare_torch_threads,
    threads_left,
)


def test_cpu_times_sum_the_busy_ticks_of_the_cpus_this_process_may_use(tmp_path):
    allowed = sorted(allowed_cpus())
    # user nice system idle iowait irq softirq steal guest guest_nice: 100 + 10 + 20 + 1 + 2 + 3 busy
    lines = ["cpu  9999 9999 9999 9999 9999 9999 9999 9999 0 0"]  # the total: not a CPU of ours
    lines += [f"cpu{n} 100 10 20 5000 7 1 2 3 0 0" for n in allowed]
    lines += [f"cpu{max(allowed) + 1} 7777 0 0 0 0 0 0 0 0 0", "intr 12345 0 0", "ctxt 999"]
    (tmp_path / "stat").write_text("\n".join(lines) + "\n")
    reading = cpu_times(tmp_path / "stat")
    assert reading.busy == pytest.approx(136 * len(allowed) / os.sysconf("SC_CLK_TCK"))
    assert reading.own > 0


def test_no_accounting_means_no_reading(tmp_path):
    assert cpu_times(tmp_path / "missing") is None
    cpu = min(allowed_cpus())
    (tmp_path / "stat").write_text(f"\ncpu{cpu} 100 ten 20 5000 7 1 2 3 0 0\n")
    assert cpu_times(tmp_path / "stat") is None  # not the kernel's format


def test_the_run_own_cpu_time_is_not_counted_as_load():
    start, end = CpuTimes(at=10.0, busy=50.0, own=1.0), CpuTimes(at=12.0, busy=53.0, own=2.0)
    assert held_cores(start, end) == pytest.approx(1.0)  # 3 CPU seconds in 2 s, 1 of them ours
    assert held_cores(end, end) == 0.0


@pytest.mark.parametrize(
    ("held", "cpus", "cores", "threads"),
    [
        (0.0, 2, 2, 2),
        (0.4, 2, 2, 2),  # a core at 40% is still torch's
        (0.5, 2, 2, 1),
        (1.0, 2, 2, 1),
        (2.0, 2, 2, 1),  # never fewer than one
        (1.0, 8, 4, 4),  # hyperthreads: 7 CPUs free, but torch's own count is the 4 cores
        (5.0, 8, 4, 3),
    ],
)
def test_torch_gets_a_thread_per_free_cpu_up_to_its_own_count(held, cpus, cores, threads):
    assert threads_left(held, cpus, cores) == threads


def test_hyperthreads_of_a_core_count_once(tmp_path):
    for cpu, siblings in enumerate(["0-1", "0-1", "2-3", "2-3"]):
        (tmp_path / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (tmp_path / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(siblings + "\n")
    assert physical_cores({0, 1, 2, 3}, tmp_path) == 2
    assert physical_cores({0, 2}, tmp_path) == 2
    assert physical_cores({0, 1, 7}, tmp_path) == 3  # no topology for cpu7: every CPU a core


def test_too_late_once_torch_is_loaded(monkeypatch):
    import torch  # noqa: F401  (as in any worker: the count was read when torch loaded)

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert spare_torch_threads(cpu_times()) is None
    assert "OMP_NUM_THREADS" not in os.environ


def _two_cores() -> tuple[int, int]:
    """Two CPUs of this process that are different cores."""
    by_core: dict[str, int] = {}
    for cpu in sorted(allowed_cpus()):
        path = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        by_core.setdefault(path.read_text().strip() if path.exists() else str(cpu), cpu)
    assert len(by_core) >= 2, f"this test needs two cores; this process may use {sorted(allowed_cpus())}"
    first, second, *_ = by_core.values()
    return first, second


RUN = """
import os, sys
os.sched_setaffinity(0, {cpus!r})
for variable in {unset!r}:
    os.environ.pop(variable, None)
import run
code = run.main({argv!r})
import torch
print("threads", torch.get_num_threads(), "exit", code)
"""


@pytest.mark.parametrize(
    ("given", "note", "threads"),
    [
        ({}, "torch: 1 thread instead of 2: other processes are keeping", 1),
        ({"OMP_NUM_THREADS": "2"}, None, 2),  # the environment's count is the user's choice
        ({"--threads": "2"}, None, 2),
    ],
)
def test_a_run_that_finds_a_core_busy_gives_torch_one_thread_and_says_so(tmp_path, given, note, threads):
    own, busy = _two_cores()
    spinner = subprocess.Popen(
        [sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{busy}}})\nprint(flush=True)\nwhile True: pass"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        spinner.stdout.readline()  # pinned, and spinning from here on
        argv = ["train", "--model", "logistic", "--epochs", "1", "--quiet", "--out", str(tmp_path / "r")]
        argv += [option for item in given.items() if item[0].startswith("--") for option in item]
        unset = [variable for variable in THREAD_VARIABLES if variable not in given]
        code = RUN.format(cpus={own, busy}, unset=unset, argv=argv)
        done = run_python("-c", code, cwd=ROOT, env={k: v for k, v in given.items() if not k.startswith("--")})
    finally:
        spinner.kill()
        spinner.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == f"threads {threads} exit 0"
    notes = [line for line in lines if line.startswith("torch: ")]
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith(note), lines
        assert "--threads 2 keeps 2; the count changes torch's last digits" in notes[0]
