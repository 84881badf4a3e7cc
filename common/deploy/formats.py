"""The deployment formats, which column exports which, and what every exported file carries.

An exported model takes the images a user has: uint8 pixels ``(N, C, H, W)`` or
``(N, H, W, C)`` (the run's layout), with the run's preprocessing (pixels / 255, then its
mean and std) inside the graph, and gives the trained model's outputs. Beside the graph,
each file holds a small JSON description (``DeployInfo``: the spec's name, classes, layout,
how to read its outputs) in the slot its format has for metadata: an ONNX file's
``metadata_props``, a ``.pt2`` archive's extra file, a ``.tflite`` model's metadata
buffer, a SavedModel folder's ``assets.extra/``. ``predict`` reads it without running
anything from the file. Nothing here imports a framework.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from common.errors import DataError

INFO_KEY = "twinspec"  # the metadata entry's name in every format
INFO_FILE = "twinspec.json"  # its file name in a .pt2 archive and a SavedModel's assets.extra/
SAVED_MODEL_PB = "saved_model.pb"
INFO_DIR = "assets.extra"  # a SavedModel's folder for files TensorFlow does not load (TF Serving's convention)
ONNX_OPSET = 18  # every column's ONNX file in one opset, so that their graphs can share one session


@dataclass(frozen=True)
class Format:
    name: str  # what --format takes
    suffix: str  # how the file's name ends; "" for a folder
    runtime: str  # what runs it, for people
    loader: str | None  # the column whose deploy module runs it; None: common.deploy.runtimes does


FORMATS = {
    "onnx": Format("onnx", ".onnx", "ONNX Runtime", None),
    "pt2": Format("pt2", ".pt2", "torch.export.load", "torch"),
    "litert": Format("litert", ".tflite", "LiteRT", None),
    "saved_model": Format("saved_model", "", "tf.saved_model.load", "tf"),
}

# Each column's formats, each made by its framework's own exporter (README, "Deployment").
COLUMN_FORMATS = {
    "torch": ("onnx", "pt2"),
    "lightning": ("onnx", "pt2"),
    "keras": ("onnx", "litert", "saved_model"),
    "tf": ("saved_model", "litert"),
}


def column_formats(column: str) -> tuple[str, ...]:
    """The formats ``column`` exports; none for a column without a deploy module."""
    return COLUMN_FORMATS.get(column, ())


def exported_format(path: Path) -> str | None:
    """The format of an exported model at ``path`` (by its suffix, or a SavedModel folder), or None."""
    path = Path(path)
    if path.is_dir():
        return "saved_model" if (path / SAVED_MODEL_PB).is_file() else None
    suffixes = {f.suffix: f.name for f in FORMATS.values() if f.suffix}
    return suffixes.get(path.suffix.lower()) if path.is_file() else None


def check_out_name(path: Path, fmt: str) -> None:
    """A file's name must say its format, or ``predict`` could not tell it later."""
    suffix = FORMATS[fmt].suffix
    if suffix and Path(path).suffix.lower() != suffix:
        raise DataError(f"--out {path}: a {fmt} file's name ends in {suffix}")
    if not suffix and Path(path).suffix.lower() in {f.suffix for f in FORMATS.values() if f.suffix}:
        raise DataError(f"--out {path}: a {fmt} export is a folder; give it a name without a model file's suffix")


@dataclass(frozen=True)
class DeployInfo:
    """What an exported model is: enough for ``predict`` to prepare images and name classes."""

    model: str  # the spec's name
    column: str  # the column that trained and exported it
    format: str
    layout: str  # nchw or nhwc: how the uint8 pixels lie
    input_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    loss: str  # the spec's loss: how the outputs become probabilities (common.runs.metrics)
    dataset: str  # the kind of dataset it trained on: how a new image is converted (common.runs.saved)
    normalization: dict | None  # inside the graph already; recorded for people

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "version": 1}, sort_keys=True)


_FIELDS = {
    "model": str,
    "column": str,
    "format": str,
    "layout": str,
    "input_shape": list,
    "classes": list,
    "loss": str,
    "dataset": str,
    "normalization": (dict, type(None)),
}


def parse_info(text: str | bytes | None, source: Path) -> DeployInfo:
    """The description embedded in an exported file, checked field by field."""
    if text is None:
        raise DataError(f"{source} holds no twinspec description: it was not written by run.py deploy")
    try:
        content = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: its twinspec description is not JSON ({exc})") from None
    if not isinstance(content, dict) or content.get("version") != 1:
        raise DataError(f"{source}: its twinspec description is not one run.py deploy writes")
    for key, kind in _FIELDS.items():
        if not isinstance(content.get(key), kind):
            raise DataError(f"{source}: its twinspec description lacks a valid {key!r}")
    shape, classes = content["input_shape"], content["classes"]
    if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise DataError(f"{source}: its twinspec description has input_shape {shape!r}, not (C, H, W)")
    if not classes or not all(isinstance(name, str) for name in classes) or content["layout"] not in ("nchw", "nhwc"):
        raise DataError(f"{source}: its twinspec description has no valid classes or layout")
    if content["format"] not in FORMATS:
        raise DataError(f"{source}: its twinspec description names an unknown format {content['format']!r}")
    fields = {key: content[key] for key in _FIELDS}
    return DeployInfo(**{**fields, "input_shape": tuple(shape), "classes": tuple(classes)})
