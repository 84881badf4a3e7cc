"""A run's trained model exported to one format by its column's own exporter, checked in
its deployment runtime against the trained model, and only then written (whole, or not
at all). A format that cannot express one of the spec's layers is one line naming the
first such layer, found by exporting the model's leading layers one more at a time."""

from __future__ import annotations

import dataclasses
import errno
import shutil
import tempfile
from pathlib import Path

import numpy as np

from common import columns
from common.data.prep import to_layout
from common.deploy.formats import FORMATS, DeployInfo
from common.deploy.runtimes import open_exported
from common.deploy.trained import trained_floor, trained_outputs
from common.errors import DataError
from common.files.atomic import clear_leftovers, place, temporary_prefix
from common.parity.referee import DeployParity, judge
from common.runs.saved import SavedRun
from spec.schema import ModelSpec

CHECK_IMAGES = 64  # random uint8 images every export is checked on before it is written


def run_info(run: SavedRun, fmt: str) -> DeployInfo:
    """What the exported file says about itself."""
    return DeployInfo(
        model=run.spec.name,
        column=run.column,
        format=fmt,
        layout=run.metrics["layout"],
        input_shape=tuple(run.spec.data.dataset.input_shape),
        classes=tuple(run.metrics["classes"]),
        loss=run.spec.train.loss,
        dataset=run.spec.data.dataset.kind,
        normalization=run.metrics.get("normalization"),
    )


def export_run(run: SavedRun, fmt: str, path: Path) -> None:
    """Write the run's model to ``path`` (a new file or folder) in ``fmt``, with its column's
    exporter. If it fails, the model's leading layers are exported one more at a time: the
    layer whose addition makes a working export fail is the one the format cannot express
    (a failure from the first layer on is the exporter's, not a layer's)."""
    failure = _try_export(run, run.spec.model, fmt, path)
    if failure is None:
        return
    layers = run.spec.model.layers
    with tempfile.TemporaryDirectory(prefix="twinspec-deploy-") as scratch:
        for count in range(1, len(layers) + 1):
            leading = dataclasses.replace(run.spec.model, layers=layers[:count])
            if _try_export(run, leading, fmt, Path(scratch) / f"{count}{FORMATS[fmt].suffix}") is not None:
                if count > 1:
                    layer = layers[count - 1]
                    raise DataError(
                        f"{fmt} cannot express layer '{layer.name}' ({layer.kind}) of {run.spec.name}"
                        f" with {run.column}'s exporter ({_reason(failure)}); nothing written"
                    )
                break
    raise DataError(f"{run.column}'s {fmt} exporter failed on {run.spec.name} ({_reason(failure)})")


def _try_export(run: SavedRun, model: ModelSpec, fmt: str, path: Path) -> Exception | None:
    """Export ``model`` (the spec's or its leading layers) and run it once; the failure, if any."""
    deploy = columns.load(run.column, "deploy")
    names = {layer.name for layer in model.layers}
    weights = {name: params for name, params in run.weights.items() if name in names}
    try:
        deployed = deploy.deployable(model, run.metrics["layout"], weights, run.metrics.get("normalization"))
        info = run_info(run, fmt)
        deploy.export(deployed, fmt, path, info)
        if model is not run.spec.model:  # a leading part: does it load and run?
            exported = open_exported(path, fmt)
            exported.predict(to_layout(np.zeros((2, *info.input_shape), np.uint8), info.layout))
    except Exception as exc:  # an exporter's refusal can be any exception
        return exc
    return None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def check_export(run: SavedRun, fmt: str, path: Path, images: np.ndarray) -> DeployParity:
    """The file at ``path`` in its runtime against the trained model, on uint8 ``(N, C, H, W)`` images."""
    reference = trained_outputs(run, images)
    floor = trained_floor(run, images, reference)
    exported = open_exported(path, fmt)
    outputs = exported.predict(to_layout(images, run.metrics["layout"]))
    return judge(run.column, fmt, exported.runtime, reference, outputs, run.spec.train.loss, floor)


def deploy_run(run: SavedRun, fmt: str, out: Path, force: bool = False) -> DeployParity:
    """Export into a staging folder beside ``out``, check the file on random images, then
    give it the name ``out``: over what is there only with ``force`` (the caller has checked
    that it may be replaced), and never over something that took the name meanwhile."""
    try:
        clear_leftovers(out.parent)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=temporary_prefix(out.name)))
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        made = staging / f"model{FORMATS[fmt].suffix}"
        export_run(run, fmt, made)
        images = np.random.default_rng(0).integers(0, 256, (CHECK_IMAGES, *run.spec.data.dataset.input_shape), np.uint8)
        checked = check_export(run, fmt, made, images)
        if not checked.passed:
            raise DataError(
                f"the {fmt} export of {run.folder} does not compute what the trained model does: max |difference|"
                f" {checked.max_abs_diff:.3g} (bound {checked.bound:.3g}), {checked.agreeing} of {checked.total}"
                " classes the same; nothing written"
            )
        if FORMATS[fmt].suffix:
            place(made, out, overwrite=force)
        else:  # a SavedModel folder: one deploy wrote goes out of the way first (--force)
            if force and out.is_dir():
                out.rename(staging / "replaced")
            made.rename(out)  # a folder of files, or a file, that took the name meanwhile stays
        return checked
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise DataError(f"--out {out}: something took the name while this command ran; left as it is") from None
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
