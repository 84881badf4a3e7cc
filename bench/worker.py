#!/usr/bin/env python3
"""One column in a process of its own, timing what the driver asks for, one line at a time.

    python bench/worker.py COLUMN MODEL [--layout L]

Started, it builds the column's trainer (``common.runs.runner.make_trainer``), the plain
loop of ``bench/loops.py`` for its framework (if there is one) and the framework's peak
kernels, warms each up once, and prints one JSON line: what it has, what each side's first
call took (``first``: what compiling its steps, XLA's or ``tf.function``'s, adds), and the
thread count a torch or JAX run would choose under the load the worker started in
(``common.threads``). Then each line it reads names a side (``trainer``, ``loop``,
``steps``, ``matmul``, ``conv``); it runs that once and prints its seconds. A trainer or a
loop reports an epoch's seconds, the mean of ``EPOCHS`` epochs run in one call (one
``train``, one ``fit``): what an epoch costs inside a run, where a pipeline's iterator or a
Trainer is made once per call. ``steps`` reports one training step's seconds on a batch
held in memory, the mean of an epoch's count of them. A process per column keeps the
families apart (a torch worker never loads TensorFlow), and a worker that stays up lets
the driver alternate sides cheaply.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loops import KERNELS, LOOPS, STEPS  # noqa: E402
from specs import bench_spec  # noqa: E402

from common import columns  # noqa: E402
from common.columns import layout_for  # noqa: E402
from common.runs.inputs import run_inputs  # noqa: E402
from common.runs.runner import make_trainer  # noqa: E402
from common.threads import cpu_times, spare_torch_threads, xla_threads  # noqa: E402

EPOCHS = 3  # epochs per timing of a trainer or a loop


def main() -> int:
    started = cpu_times()  # as run.py does: torch's threads for the load the worker starts under
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("column")
    parser.add_argument("model")
    parser.add_argument("--layout")
    args = parser.parse_args()
    spec = bench_spec(args.model)
    column = columns.column(args.column)
    layout = layout_for(spec, column.name, args.layout)
    framework = columns.FAMILIES[column.family].package.removesuffix("_impl")  # Keras on torch is torch's
    chosen = spare_torch_threads(started) if framework in ("torch", "jax") else None
    if chosen is not None and framework == "jax":
        xla_threads(chosen.threads)  # as run.py sets XLA's
    trainer = make_trainer(column.name, spec, layout)

    def trainer_epoch() -> float:
        start = time.perf_counter()
        trainer.train(EPOCHS, seed=None)
        return (time.perf_counter() - start) / EPOCHS

    split = run_inputs(spec, layout).split
    sides = {"trainer": trainer_epoch}
    if column.name in LOOPS:
        loop = LOOPS[column.name](spec, split, layout)
        sides["loop"] = lambda: loop(EPOCHS) / EPOCHS
    if column.name in STEPS:
        steps, n_steps = STEPS[column.name](spec, split, layout), -(-len(split.y_train) // spec.data.batch_size)
        sides["steps"] = lambda: steps(n_steps) / n_steps
    sides.update(KERNELS[column.family]())
    first = {name: side() for name, side in sides.items()}  # warm-up: compiling, tracing, first allocations
    ready = {"sides": list(sides), "layout": layout, "n_train": len(split.y_train), "n_val": len(split.y_val)}
    ready["first"] = first
    ready["torch_threads"] = chosen.threads if chosen else None  # None: torch's (or XLA's) own count, or neither
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        print(json.dumps({"seconds": sides[line.strip()]()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
