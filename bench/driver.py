"""The benchmarks' end of a worker (``bench/worker.py``): start one per column and model,
and ask it for timings."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from specs import MODELS
from table import Row, render

from common import columns

WORKER = Path(__file__).resolve().parent / "worker.py"
ROUNDS = 5  # alternating timings per side, unless --rounds says otherwise


class Worker:
    """A column's worker process (``script``: another kind of worker, ``deploy_worker.py``);
    ``time(side)`` runs one side once there."""

    def __init__(
        self,
        column: str,
        model: str,
        layout: str | None = None,
        env: dict[str, str] | None = None,
        script: Path = WORKER,
    ) -> None:
        command = [sys.executable, str(script), column, model, *(["--layout", layout] if layout else [])]
        self.name = f"{column}/{model}"
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
        )
        self.ready = self._reply()

    def _reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker {self.name} exited with status {self.process.wait()}")
        return json.loads(line)

    @property
    def sides(self) -> list[str]:
        return self.ready["sides"]

    def time(self, side: str) -> float:
        self.process.stdin.write(side + "\n")
        self.process.stdin.flush()
        return self._reply()["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cli(
    doc: str, more: Callable[[argparse.ArgumentParser], None] | None = None, argv: list[str] | None = None
) -> argparse.Namespace:
    """The options every benchmark takes (``more``: a script's own)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated spec names (default: %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="alternating timings per side (default: %(default)s)"
    )
    parser.add_argument("--columns", help="comma-separated columns (default: every registered one)")
    if more is not None:
        more(parser)
    return parser.parse_args(argv)


def selected_columns(args: argparse.Namespace) -> list[str]:
    """``--columns``, else every registered column: none is left out unasked."""
    return columns.parse_columns(args.columns) if args.columns else columns.names()


Measure = Callable[[dict[str, Worker], str, int], list[Row]]


def measure_models(args: argparse.Namespace, sections: list[Measure]) -> list[Row]:
    """Every registered column's worker for each model in turn, through every section."""
    rows = []
    for model in args.models.split(","):
        workers: dict[str, Worker] = {}
        try:
            for name in selected_columns(args):
                try:
                    workers[name] = Worker(name, model)
                except RuntimeError as exc:  # reported, not skipped
                    rows.append(Row("workers", f"{name} {model}", str(exc), "starts", False))
            for section in sections:
                measured = section(workers, model, args.rounds)
                print(render(measured), file=sys.stderr, flush=True)  # progress: the table comes at the end
                rows += measured
        finally:
            for worker in workers.values():
                worker.close()
    return rows


def run_sections(args: argparse.Namespace, sections: list[Measure]) -> int:
    """Measure, print the table; exit status 1 if a target was missed."""
    rows = measure_models(args, sections)
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1
