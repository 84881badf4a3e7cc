#!/usr/bin/env python3
"""Every benchmark, one table (``make bench``): per model, every registered column's
worker runs the trainer against its plain loop, against the other columns, and against
its framework's peak; each exported format's latency against its framework's eager
forward; then start-up, and Keras' lockstep against its native mode.

Every figure is a ratio of sides timed in turn in the same run (median, and the range
over the rounds), so the table holds on a loaded machine; absolute seconds are shown only
where a target is stated in seconds. Exits 1 if a target was missed.

    python bench/all.py [--models M,...] [--rounds R]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import columns_race  # noqa: E402
import deploy_vs_eager  # noqa: E402
import peak  # noqa: E402
import startup  # noqa: E402
import trainer_vs_loop  # noqa: E402
from driver import cli, measure_models  # noqa: E402
from table import Row, render  # noqa: E402


def lockstep_rows(rounds: int) -> list[Row]:
    """``lockstep_vs_native.py`` in a process of its own (it loads Keras)."""
    command = [sys.executable, str(HERE / "lockstep_vs_native.py"), "--json", "--rounds", str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rows = [Row(**json.loads(line)) for line in done.stdout.splitlines() if line.startswith("{")]
    if not rows:
        rows = [Row("keras lockstep / native", "all", f"failed: {done.stderr.strip()[-200:]}", "runs", False)]
    return rows


def main() -> int:
    args = cli(__doc__)
    rows = measure_models(args, [trainer_vs_loop.measure, columns_race.measure, peak.measure])
    rows = sorted(rows, key=lambda row: [r.section for r in rows].index(row.section))  # sections together
    rows += deploy_vs_eager.measure(args)
    rows += startup.measure(args.rounds)
    rows += lockstep_rows(args.rounds)
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
