#!/usr/bin/env python3
"""Deployment runtimes against their framework's eager forward: per column and model, one
image and a batch of 32 through the deployable model in eager mode and through each
exported file in its runtime (ONNX Runtime, LiteRT, torch.export.load, tf.saved_model.load),
timed in turn in the same worker (``bench/deploy_worker.py``), round by round; each figure is
the runtime's time over the eager forward's (below 1: the runtime is faster). No target:
the table says what deploying buys.

    python bench/deploy_vs_eager.py [--models M,...] [--rounds R] [--columns A,B]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Worker, cli, selected_columns  # noqa: E402
from table import Row, render  # noqa: E402
from timing import alternate, ratio  # noqa: E402

SECTION = "deployed / eager, latency"
WORKER = Path(__file__).resolve().parent / "deploy_worker.py"


def measure(args) -> list[Row]:
    rows = []
    for model in args.models.split(","):
        for column in selected_columns(args):
            try:
                worker = Worker(column, model, script=WORKER)
            except RuntimeError as exc:  # reported, not skipped
                rows.append(Row(SECTION, f"{column} {model}", str(exc), "starts", False))
                continue
            with worker:
                for batch in ("1", "32"):
                    sides = [side for side in worker.sides if side.endswith(f" {batch}")]
                    times = alternate({side: (lambda s=side: worker.time(s)) for side in sides}, args.rounds)
                    for side in sides[1:]:  # the first is the eager forward
                        images = "one image" if batch == "1" else f"batch of {batch}"
                        what = f"{column} {model} {side.rsplit(' ', 1)[0]}, {images}"
                        r = ratio(times[side], times[f"eager {batch}"])  # 3 digits: a runtime may be 100x faster
                        figure = f"{r.median:.3g}x ({r.low:.3g}-{r.high:.3g}, {r.rounds} rounds)"
                        rows.append(Row(SECTION, what, figure))
            print(render(rows[-2 * len(sides) + 2 :]), file=sys.stderr, flush=True)  # progress
    return rows


def main() -> int:
    rows = measure(cli(__doc__))
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
