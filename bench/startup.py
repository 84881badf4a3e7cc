#!/usr/bin/env python3
"""Start-up: each command as a user types it, in a fresh interpreter, against the imports
it cannot do without. The commands and the imports run in turn, round after round; the
figures are medians of whole processes, and each ratio is taken per round.

Targets: ``list`` 0.3 s and ``show`` 0.5 s on a quiet machine, where ``import torch``
takes about 3 s; neither imports a framework. A loaded machine stretches every process, so
they are judged as a share of ``import torch`` timed in the same rounds: 0.1 and 0.17.
A one-epoch ``train`` of ``logistic`` in each column costs at most 1.15 times the imports
its own listing makes (``run.py show logistic --backend X``'s import lines, run alone):
what the run adds to them (twinspec, the data, the run folder) stays small. JAX's run
also compiles its steps with XLA, which no import does: its ratio is shown, not judged.

    python bench/startup.py [--rounds R]
"""

from __future__ import annotations

import argparse
import ast
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
LISTING_IMPORTS = 1.15  # a train run against its listing's imports
COMPILING = {"jax"}  # families whose run compiles its steps before the first one (XLA)


def commands(out: Path) -> dict[str, tuple[list[str], str | None]]:
    """name -> (run.py arguments, the family whose import it is judged against)."""
    found: dict[str, tuple[list[str], str | None]] = {"list": (["list"], None)}
    for name in columns.names():
        found[f"show --backend {name}"] = (["show", "cnn1", "--backend", name], None)
    for name in columns.names():
        train = ["--backend", name, "--model", "logistic", "--epochs", "1", "--quiet"]
        found[f"train --backend {name} (logistic, 1 epoch)"] = (train, f"listing {name}")
    found["compare (relu, 1 epoch)"] = (["compare", "--model", "relu", "--epochs", "1", "--quiet"], None)
    return found


def listing_imports(column: str) -> str:
    """The import statements of ``logistic``'s listing in ``column``, as one program."""
    from spec import load_spec, resolve_spec

    source = columns.load(column, "listing").listing(load_spec(resolve_spec("logistic")))
    tree = ast.parse(source)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


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
        imports = {f"listing {name}": listing_imports(name) for name in columns.names()}
        sides.update({key: (lambda code=code: timed(["-c", code], out)) for key, code in imports.items()})
        times = alternate(sides, rounds)
    rows = [
        Row(SECTION, f"python -c '{code}'", f"{statistics.median(times[family]):.2f} s")
        for family, code in IMPORTS.items()
    ]
    for name, (argv, family) in found.items():
        figure = f"{statistics.median(times[name]):.2f} s"
        target = TARGETS.get(name.split()[0])
        if family is not None:
            share = ratio(times[name], times[family])
            figure += f", {share} of its listing's imports ({statistics.median(times[family]):.2f} s)"
            if columns.column(family.removeprefix("listing ")).family in COMPILING:
                rows.append(Row(SECTION, name, figure + ", XLA's compiles included"))
                continue
            met = share.median <= LISTING_IMPORTS
            rows.append(Row(SECTION, name, figure, f"<= {LISTING_IMPORTS}x its listing's imports", met))
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
