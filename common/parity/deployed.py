"""``parity --check deploy``: each run's model exported to every format its column has,
each file run in its deployment runtime on the run's validation and test images, and judged
against the trained model in its own framework (``common.parity.referee``). Then every
run's ONNX file runs in one ONNX Runtime session, side by side, and is judged the same way.
Framework-free itself: the columns and runtimes load as the exports need them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.data.datasets import load_dataset
from common.data.prep import split_dataset, to_layout
from common.deploy.export import export_run
from common.deploy.formats import FORMATS, column_formats
from common.deploy.runtimes import onnx_session, open_exported
from common.deploy.side_by_side import INPUT, merge_onnx
from common.deploy.trained import trained_floor, trained_outputs
from common.parity.referee import DeployParity, Floor, judge
from common.runs.saved import SavedRun

SIDE_BY_SIDE = "ONNX Runtime, one session"
BATCH = 1000  # images per call: a large split would not fit through a conv stack at once


def run_images(run: SavedRun) -> np.ndarray:
    """The run's validation and test images, uint8 ``(N, C, H, W)``, as its split holds them
    (scaled by 1 / 255 there, which rounding undoes exactly)."""
    split = split_dataset(load_dataset(run.spec.data.dataset), run.spec.data)
    x = split.x_val if split.x_test is None else np.concatenate([split.x_val, split.x_test])
    return np.rint(x * 255).astype(np.uint8)


def in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    return np.concatenate([predict(images[start : start + BATCH]) for start in range(0, len(images), BATCH)])


def check_deploy(runs: list[SavedRun], say: Callable[[str], None] = print) -> list[DeployParity]:
    """Every format of every run, then the runs' ONNX files side by side; the runs are of one
    spec on the same data (the caller makes sure), so they classify the same images."""
    images = run_images(runs[0])
    results: list[DeployParity] = []
    side_by_side: dict[str, tuple[Path, str]] = {}
    judged: dict[str, tuple[SavedRun, np.ndarray, Floor]] = {}
    with tempfile.TemporaryDirectory(prefix="twinspec-deploy-") as scratch:
        for i, run in enumerate(runs):
            column, layout = run.column, run.metrics["layout"]
            if not column_formats(column):
                say(f"  {column} ({run.folder}): its column deploys to no format; left out")
                continue
            say(f"  {column} ({run.folder}): exporting to {', '.join(column_formats(column))}")
            reference = in_batches(lambda part: trained_outputs(run, part), images)
            floor = trained_floor(run, images[:BATCH], reference[:BATCH])
            for fmt in column_formats(column):
                path = Path(scratch) / f"{i}-{column}-{fmt}{FORMATS[fmt].suffix}"
                export_run(run, fmt, path)
                exported = open_exported(path, fmt)
                outputs = in_batches(lambda part: exported.predict(to_layout(part, layout)), images)
                results.append(judge(column, fmt, exported.runtime, reference, outputs, run.spec.train.loss, floor))
                if fmt == "onnx":
                    key = column if column not in side_by_side else f"{column}-{i}"
                    side_by_side[key], judged[key] = (path, layout), (run, reference, floor)
        if side_by_side:
            say(f"  {', '.join(side_by_side)}: the ONNX files in one ONNX Runtime session")
            session = onnx_session(merge_onnx(side_by_side, runs[0].spec.data.dataset.input_shape))
            names = [output.name for output in session.get_outputs()]
            run_all = lambda part: np.concatenate(session.run(names, {INPUT: to_layout(part, "nhwc")}), axis=1)
            together = np.split(in_batches(run_all, images), len(names), axis=1)
            for name, outputs in zip(names, together):
                run, reference, floor = judged[name]
                results.append(judge(name, "onnx", SIDE_BY_SIDE, reference, outputs, run.spec.train.loss, floor))
    return results
