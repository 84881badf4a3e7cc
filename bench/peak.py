#!/usr/bin/env python3
"""The share of the measured peak each column's trainer reaches: a large matmul and a
large conv in the column's framework give the peak (the better of the two), the model's
FLOPs per sample (``bench/specs.py``) and the epoch time give what training achieves.
Beside it, what the plain loop reaches, and the model's training steps on one batch held in
memory: the rate its own kernels reach at the spec's batch size, with no loop and no data
around them (an epoch also runs validation, forward only, which may run faster).
Kernels, epochs and steps alternate in the worker. Target: at least 60% on mnist_cnn.

    python bench/peak.py [--models M,...] [--rounds R]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, run_sections  # noqa: E402
from loops import MATMUL_N, conv_flops  # noqa: E402
from specs import bench_spec, epoch_flops, step_flops  # noqa: E402
from table import Row  # noqa: E402
from timing import alternate, ratio  # noqa: E402

SECTION = "share of peak"
TARGET = {"mnist_cnn": 0.60}
KERNEL_FLOPS = {"matmul": 2.0 * MATMUL_N**3, "conv": conv_flops()}
SIDES = {"loop": "plain loop", "steps": "steps on a resident batch"}


def measure(workers: dict[str, Worker], model: str, rounds: int) -> list[Row]:
    spec = bench_spec(model)
    rows = []
    for name, worker in workers.items():
        flops = epoch_flops(spec, worker.ready["n_train"], worker.ready["n_val"])
        sides = ("trainer", *(side for side in ("loop", "steps") if side in worker.sides), *KERNEL_FLOPS)
        times = alternate({side: (lambda side=side, w=worker: w.time(side)) for side in sides}, rounds)
        rates = {kernel: KERNEL_FLOPS[kernel] / statistics.median(times[kernel]) for kernel in KERNEL_FLOPS}
        best = max(rates, key=rates.get)
        kernels = ", ".join(f"{kernel} {rate / 1e9:.1f}" for kernel, rate in rates.items())
        rows.append(Row(SECTION, f"{name} peak GFLOP/s", kernels))
        work = {"trainer": flops, "loop": flops, "steps": step_flops(spec)}
        target = TARGET.get(model)
        for side in sides[: -len(KERNEL_FLOPS)]:
            # share per round: (work / side's seconds) / (kernel flops / kernel seconds)
            share = ratio([seconds * work[side] / KERNEL_FLOPS[best] for seconds in times[best]], times[side])
            figure = f"{share.median:.0%} ({share.low:.0%}-{share.high:.0%}) of {best}"
            if side == "trainer":
                figure += f", {flops / 1e9:.2f} GFLOP/epoch"
                verdict = (f">= {target:.0%}", share.median >= target) if target else ("", None)
                rows.append(Row(SECTION, f"{name} {model}", figure, *verdict))
            else:
                rows.append(Row(SECTION, f"{name} {model}: {SIDES[side]}", figure))
    return rows


if __name__ == "__main__":
    sys.exit(run_sections(cli(__doc__), [measure]))
