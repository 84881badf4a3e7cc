"""``docs/benchmarks.md``: what ``make bench`` measured, stamped with where and with what.

The figures of a benchmark belong to the machine and the day they were taken on, so they
live in a file of their own, written by the run that measured them and never by hand:
the date, the CPU model, the cores this process may use, Python's version and the
frameworks' versions head the file, then the command that ran, then every row of the
table (``bench/table.py``), a section each, then what a benchmark printed besides (the
Lightning Trainer's cost per step). The file is written whole or not at all
(``common.files.atomic``). The versions are read from the installed distributions, so
stamping imports no framework.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from table import Row

from common.files.atomic import atomic_write

# The libraries a figure depends on: a name as people say it, and the distributions that
# may provide it (TensorFlow is pinned as tensorflow-cpu; a GPU install is tensorflow).
LIBRARIES = {
    "torch": ("torch",),
    "lightning": ("pytorch-lightning", "lightning"),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "keras": ("keras",),
    "jax": ("jax",),
    "flax": ("flax",),
    "numpy": ("numpy",),
}
GENERATED = "<!-- Written by `make bench` (bench/all.py, bench/results.py): do not edit by hand. -->"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as the kernel reports it (``/proc/cpuinfo``), else what
    ``platform`` knows."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cores() -> int:
    """The cores this process may run on (its affinity), which is what the frameworks use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


@dataclass(frozen=True)
class Stamp:
    """Where and with what a table was measured."""

    date: str
    cpu: str
    cores: int
    python: str
    libraries: dict[str, str]
    command: str
    took: str = ""  # the run's wall time, once it is over
    load: str = ""  # the load average as the run began: how busy the machine was
    note: str = ""  # what a reader must know first: a partial run, say


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, where the system keeps them."""
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except (AttributeError, OSError):
        return ""


def stamp(command: str, took: str = "", load: str = "", now: datetime.datetime | None = None, note: str = "") -> Stamp:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return Stamp(
        date=now.strftime("%Y-%m-%d %H:%M UTC"),
        cpu=cpu_model(),
        cores=cores(),
        python=platform.python_version(),
        libraries={name: version(dists) for name, dists in LIBRARIES.items()},
        command=command,
        took=took,
        load=load,
        note=note,
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else " "


def markdown(rows: list[Row], where: Stamp, blocks: dict[str, str] | None = None) -> str:
    """The stamp, then a table per section, then each of ``blocks`` (title -> preformatted text)."""
    libraries = ", ".join(f"{name} {v}" for name, v in where.libraries.items())
    missed = sum(row.met is False for row in rows)
    lines = [
        GENERATED,
        "",
        "# Benchmarks",
        "",
        "What `make bench` measured on one machine, on one day: the figures hold for this machine and",
        "these versions only. What each section measures, and why, is in [speed.md](speed.md).",
        "",
        f"- **Date:** {where.date}",
        f"- **CPU:** {where.cpu}, {where.cores} {'core' if where.cores == 1 else 'cores'} available"
        + (f", load average {where.load} as the run began" if where.load else ""),
        f"- **Python:** {where.python}",
        f"- **Libraries:** {libraries}",
        f"- **Command:** `{where.command}`" + (f", {where.took}" if where.took else ""),
        f"- **Targets:** {sum(row.met is True for row in rows)} met, {missed} missed",
        "",
    ]
    if where.note:
        lines += [f"**{where.note}**", ""]
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    for section, members in sections.items():
        lines += [f"## {section}", "", "| what | figure | target | verdict |", "|---|---|---|---|"]
        for row in members:
            verdict = {True: "met", False: "**MISSED**", None: ""}[row.met]
            cells = (row.what, row.figure, row.target, verdict)
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
    for title, text in (blocks or {}).items():
        lines += [f"## {title}", "", "```", text.rstrip("\n"), "```", ""]
    return "\n".join(lines)


def write(path: Path, rows: list[Row], where: Stamp, blocks: dict[str, str] | None = None) -> None:
    """``docs/benchmarks.md`` (or ``path``), whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as handle:
        handle.write(markdown(rows, where, blocks))
