#!/usr/bin/env python3
"""Start-up: each command as a user types it, in a fresh interpreter, against the bare
import of the framework it needs (``python -c 'import X'``). The commands and the imports
run in turn, round after round; the figures are medians of whole processes, and each
command's ratio to its framework's import is taken per round.

Targets: ``list`` 0.3 s and ``show`` 0.5 s on a quiet machine, where ``import torch``
takes about 3 s; neither imports a framework. A loaded machine stretches every process, so
they are judged as a share of ``import torch`` timed in the same rounds: 0.1 and 0.17.
``train`` and ``compare`` pay their frameworks' imports (and torch's optimizer imports
``torch._dynamo`` at its first step); their ratio to the bare import is shown.

    python bench/startup.py [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from table import Row, render  # noqa: E402
from timing import alternate, ratio  # noqa: E402

from common import columns  # noqa: E402

SECTION = "start-up"
IMPORTS = {  # what each family's users import
    "torch": "import torch",
    "tensorflow": "import keras",
    "jax": "from flax import nnx",
}
QUIET_TORCH_IMPORT = 3.0  # seconds, on the 2-core machine of the survey
TARGETS = {"list": 0.3, "show": 0.5}  # seconds, quiet


def commands(out: Path) -> dict[str, tuple[list[str], str | None]]:
    """name -> (run.py arguments, the family whose import it is judged against)."""
    found: dict[str, tuple[list[str], str | None]] = {"list": (["list"], None)}
    for name in columns.names():
        found[f"show --backend {name}"] = (["show", "cnn1", "--backend", name], None)
    for name in columns.names():
        family = columns.column(name).family
        train = ["--backend", name, "--model", "relu", "--epochs", "1", "--quiet"]
        found[f"train --backend {name} (relu, 1 epoch)"] = (train, family)
    found["compare (relu, 1 epoch)"] = (["compare", "--model", "relu", "--epochs", "1", "--quiet"], None)
    return found


def timed(argv: list[str], out: Path) -> float:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if argv[:1] != ["-c"]:
        argv = ["run.py", *argv, *(["--out", str(out / str(time.monotonic_ns()))] if "--quiet" in argv else [])]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def measure(rounds: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        found = commands(out)
        sides = {name: (lambda argv=argv: timed(argv, out)) for name, (argv, _) in found.items()}
        sides.update({family: (lambda code=code: timed(["-c", code], out)) for family, code in IMPORTS.items()})
        times = alternate(sides, rounds)
    rows = [
        Row(SECTION, f"python -c '{code}'", f"{statistics.median(times[family]):.2f} s")
        for family, code in IMPORTS.items()
    ]
    for name, (argv, family) in found.items():
        figure = f"{statistics.median(times[name]):.2f} s"
        target = TARGETS.get(name.split()[0])
        if family is not None:
            if family in times:  # a family with no import above is shown in seconds alone
                figure += f", {ratio(times[name], times[family])} of its import"
            rows.append(Row(SECTION, name, figure))
            continue
        if target is None:
            rows.append(Row(SECTION, name, figure))
            continue
        share = ratio(times[name], times["torch"])
        limit = target / QUIET_TORCH_IMPORT
        figure += f", {share} of import torch"
        rows.append(Row(SECTION, name, figure, f"<= {target} s quiet: {limit:.2f}x", share.median <= limit))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per command (default: %(default)s)")
    rows = measure(parser.parse_args().rounds)
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
