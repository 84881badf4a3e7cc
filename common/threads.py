"""How many threads a run gives torch: its own count (a thread per core), unless other
processes hold cores when the run starts.

Torch's OpenMP threads meet at a barrier after every parallel region, so a thread that the
kernel has descheduled for another process holds up all the others: with one of 2 cores
busy, torch's epoch took 2.7 (lenet) to 4.2 (mnist_cnn) times its quiet time, and one
thread ran it 3.3 and 2.1 times as fast as two (docs/speed.md, "Threads and contention").
TensorFlow's pool shows no such cliff, so its counts are left as they are. A different
count changes torch's last bits, so the caller says so whenever this picks one.

The load is read from Linux's per-CPU accounting (``/proc/stat``) over the run's first
tenth of a second, less this process's own CPU time; where that file is missing torch
keeps its own count.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")  # torch's, TensorFlow's
TORCH_THREADS = THREAD_VARIABLES[0]
XLA_FLAGS = "XLA_FLAGS"  # JAX's CPU threads are XLA's, set by flags read when JAX loads
WINDOW = 0.1  # seconds of accounting to judge the load by: ten of the kernel's 100 Hz ticks
STAT = Path("/proc/stat")
TOPOLOGY = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class CpuTimes:
    """One reading of the clock, the CPUs' busy time and this process's own."""

    at: float  # time.monotonic()
    busy: float  # CPU seconds the CPUs this process may use have spent busy since boot
    own: float  # CPU seconds this process has used, all its threads


@dataclass(frozen=True)
class TorchThreads:
    """What :func:`spare_torch_threads` chose, for the note the run prints."""

    threads: int  # the count torch gets
    cores: int  # torch's own count: the physical cores this process may use
    held: float  # cores' worth of CPU that other processes were using
    cpus: int  # the CPUs this process may use


def allowed_cpus() -> set[int]:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def cpu_times(stat: Path = STAT) -> CpuTimes | None:
    """Now, or None where the kernel keeps no per-CPU accounting there."""
    try:
        text = stat.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    cpus = allowed_cpus()
    ticks = 0
    for name, *fields in (line.split() for line in text.splitlines() if line.strip()):
        if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in cpus:
            counts = (fields + ["0"] * 8)[:8]
            if not all(count.isdigit() for count in counts):
                return None  # not the kernel's format: judge nothing by it
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, counts)
            ticks += user + nice + system + irq + softirq + steal  # steal: the hypervisor ran someone else
    own = os.times()
    return CpuTimes(time.monotonic(), ticks / os.sysconf("SC_CLK_TCK"), own.user + own.system)


def held_cores(start: CpuTimes, end: CpuTimes) -> float:
    """Cores' worth of CPU that other processes used between two readings."""
    span = end.at - start.at
    if span <= 0:
        return 0.0
    return max(0.0, (end.busy - start.busy) - (end.own - start.own)) / span


def physical_cores(cpus: set[int], topology: Path = TOPOLOGY) -> int:
    """Torch's own thread count: the cores among ``cpus``, a core's hyperthreads counted once."""
    siblings = set()
    for cpu in cpus:
        try:
            siblings.add((topology / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip())
        except OSError:
            return len(cpus)
    return len(siblings)


def threads_left(held: float, cpus: int, cores: int) -> int:
    """A thread per CPU that others leave free (a core they keep at least half busy is
    theirs), at least one, and never more than torch's own count."""
    return max(1, min(cores, cpus - math.floor(held + 0.5)))


def spare_torch_threads(since: CpuTimes | None) -> TorchThreads | None:
    """Set torch's count (``OMP_NUM_THREADS``, read when torch loads) to the cores that
    other processes have left free since ``since``, waiting out the rest of ``WINDOW``.
    None, and nothing set, where the count is torch's own anyway, where the environment
    names one, where torch is loaded already (too late to change it), or where there is
    no accounting to judge by."""
    if since is None or TORCH_THREADS in os.environ or "torch" in sys.modules:
        return None
    time.sleep(max(0.0, since.at + WINDOW - time.monotonic()))
    now = cpu_times()
    if now is None:
        return None
    cpus = allowed_cpus()
    held = held_cores(since, now)
    cores = physical_cores(cpus)
    threads = threads_left(held, len(cpus), cores)
    if threads == cores:
        return None
    os.environ[TORCH_THREADS] = str(threads)
    return TorchThreads(threads, cores, held, len(cpus))


def xla_threads(threads: int) -> None:
    """JAX's count, as torch's is set (``--threads``, or one thread under contention): XLA's
    CPU kernels on ``threads`` intra-op threads, Eigen's own pool off when that is one.
    Added to ``XLA_FLAGS``, read when JAX loads; flags already there are kept."""
    flags = [f"intra_op_parallelism_threads={threads}"]
    if threads == 1:
        flags.insert(0, "--xla_cpu_multi_thread_eigen=false")
    os.environ[XLA_FLAGS] = " ".join([os.environ.get(XLA_FLAGS, ""), *flags]).strip()
