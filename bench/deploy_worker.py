#!/usr/bin/env python3
"""One column's deployable model in a process of its own: its framework's eager forward and
every format its column exports, each in its deployment runtime, timed on request.

    python bench/deploy_worker.py COLUMN MODEL

Started, it builds the column's deployable model (``<column>_impl/deploy.py``: uint8 pixels
in, preprocessing and the model inside) from the column's initial weights (latency does not
depend on trained values), exports it to every format with ``run.py deploy``'s code, opens
each file in its runtime, warms every side up and prints one JSON line: its sides,
``eager 1``, ``eager 32``, ``<format> 1``, ``<format> 32``. Each line it reads then names a
side: it classifies one image or a batch of 32, as many times as take ``SIDE_SECONDS``, and
prints the seconds per call.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from specs import bench_spec  # noqa: E402

from common import columns  # noqa: E402
from common.data.datasets import load_dataset  # noqa: E402
from common.data.prep import to_layout  # noqa: E402
from common.deploy.export import export_run  # noqa: E402
from common.deploy.formats import FORMATS, column_formats  # noqa: E402
from common.deploy.runtimes import open_exported  # noqa: E402
from common.columns import layout_for  # noqa: E402
from common.runs.saved import SavedRun  # noqa: E402

BATCHES = (1, 32)
SIDE_SECONDS = 0.2  # per timing: enough calls that the clock's resolution does not matter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("column")
    parser.add_argument("model")
    args = parser.parse_args()
    spec = bench_spec(args.model)
    layout = layout_for(spec, args.column)
    normalization = None if spec.data.mean is None else {"mean": list(spec.data.mean), "std": list(spec.data.std)}
    metrics = {
        "column": args.column,
        "layout": layout,
        "classes": list(load_dataset(spec.data.dataset).classes),
        "normalization": normalization,
    }
    weights = columns.load(args.column, "forward").initial_weights(spec.model)
    run = SavedRun(Path(args.model), spec, metrics, weights, args.column)
    deploy = columns.load(args.column, "deploy")
    deployed = deploy.deployable(spec.model, layout, weights, normalization)
    predict = {"eager": lambda images: deploy.predict_eager(deployed, images)}
    scratch = tempfile.TemporaryDirectory(prefix="twinspec-bench-")
    for fmt in column_formats(args.column):
        path = Path(scratch.name) / f"model{FORMATS[fmt].suffix}"
        export_run(run, fmt, path)
        predict[fmt] = open_exported(path, fmt).predict
    rng = np.random.default_rng(0)
    sides = {}
    for name, run_it in predict.items():
        for batch in BATCHES:
            images = to_layout(rng.integers(0, 256, (batch, *spec.data.dataset.input_shape), np.uint8), layout)
            sides[f"{name} {batch}"] = _timed(run_it, images)
    print(json.dumps({"sides": list(sides), "layout": layout}), flush=True)
    for line in sys.stdin:
        print(json.dumps({"seconds": sides[line.strip()]()}), flush=True)
    scratch.cleanup()
    return 0


def _timed(predict, images: np.ndarray):
    """A side: ``predict(images)`` repeated for about SIDE_SECONDS, after a warm-up; seconds per call."""
    start = time.perf_counter()
    predict(images)  # warm-up: first allocations, a runtime's kernel choice
    repeats = max(1, math.ceil(SIDE_SECONDS / max(time.perf_counter() - start, 1e-6)))

    def side() -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            predict(images)
        return (time.perf_counter() - start) / repeats

    side()
    return side


if __name__ == "__main__":
    sys.exit(main())
