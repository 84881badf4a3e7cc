"""A run folder's ``metrics.json`` read back and checked, field by field, against the run's
spec: run folders pass from hand to hand, and what ``predict`` takes from them (the classes
it names, the input shape and normalisation it prepares images with, the column) must be
what training wrote, or be refused in one line that names the file and the field. A
normalisation of 0, NaN or 1e-30 would otherwise print NaN probabilities as a result, and
five class names for three outputs invented labels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from common import columns
from common.data.classes import class_names
from common.data.loaders import MNIST_CLASSES
from common.errors import DataError
from spec.errors import excerpt
from spec.load import BYTES_PER_PIXEL, physical_memory
from spec.schema import DatasetSpec, Spec

NORMALIZED_FROM = ("spec", "training split")


def read_metrics(path: Path) -> dict:
    """``metrics.json`` as strict JSON (no NaN or Infinity) holding an object."""
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_a_number)
    except RecursionError:
        raise DataError(f"{path}: values nested too deep for the metrics of a run") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not the metrics of a run ({exc})") from None
    if not isinstance(metrics, dict):
        raise DataError(f"{path}: the metrics of a run are a JSON object, not {excerpt(metrics)}")
    return metrics


def _not_a_number(word: str) -> None:
    raise ValueError(f"{word} is not a JSON number")


def recorded_dataset(path: Path, metrics: dict, spec: Spec) -> DatasetSpec | None:
    """The user's data a run trained on (``--data``), as its metrics record it, for the run's
    ``spec`` as written (``None``: the spec's own dataset). Its class names and input shape
    must be what that source gives."""
    data = metrics.get("data")
    if data is None:
        return None
    if not isinstance(data, str) or not data:
        raise _field(path, "data", "the path of the --data the run trained on, or null", data)
    source = spec.data.source
    if source is None:
        raise DataError(f"{path}: data is set ({excerpt(data)}), but the run's spec.yaml names no data.source")
    classes = _classes(path, metrics)
    expected = {"mnist": MNIST_CLASSES, "cifar10": source.params.get("classes")}.get(source.kind)
    if expected is not None and tuple(classes) != tuple(expected):
        raise _field(path, "classes", f"{list(expected)} ({source.kind})", classes)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise _field(path, "classes", "two or more different class names", classes)
    shape = _input_shape(path, metrics)
    if source.kind == "image_folder" and shape != (source.params["channels"], *source.params["size"]):
        channels, (height, width) = source.params["channels"], source.params["size"]
        raise _field(path, "input_shape", f"[{channels}, {height}, {width}] (the spec's data.source)", list(shape))
    if (source.kind == "cifar10" and shape != (3, 32, 32)) or (source.kind == "mnist" and shape[0] != 1):
        raise _field(path, "input_shape", f"what {source.kind} holds", list(shape))
    return DatasetSpec(source.kind, {"path": data, **source.params}, shape, len(classes))


def recorded_column(path: Path, metrics: dict) -> str:
    """The column a run trained in: ``column`` (``backend`` in the run folders of the versions
    that named it so), a registered one."""
    key = "backend" if "backend" in metrics and "column" not in metrics else "column"
    column = metrics.get(key, columns.REFERENCE)
    if not isinstance(column, str) or column not in columns.names():
        raise _field(path, key, f"one of {', '.join(columns.names())}", column)
    return column


def check_metrics(path: Path, metrics: dict, spec: Spec) -> None:
    """Every field ``predict`` reads, against ``spec`` (with the run's own dataset)."""
    recorded_column(path, metrics)
    dataset = spec.data.dataset
    shape = _input_shape(path, metrics)
    if shape != dataset.input_shape:
        raise _field(path, "input_shape", f"{list(dataset.input_shape)}, the shape the spec gives", list(shape))
    classes = _classes(path, metrics)
    if "path" not in dataset.params and tuple(classes) != class_names(dataset.kind, dataset.params):
        expected = list(class_names(dataset.kind, dataset.params))
        raise _field(path, "classes", f"{expected}, the classes of the spec's {dataset.kind} data", classes)
    _check_normalization(path, metrics.get("normalization"), spec)


def _classes(path: Path, metrics: dict) -> list[str]:
    classes = metrics.get("classes")
    if not isinstance(classes, list) or not all(isinstance(name, str) and name for name in classes):
        raise _field(path, "classes", "a list of class names", classes)
    return classes


def _input_shape(path: Path, metrics: dict) -> tuple[int, int, int]:
    shape = metrics.get("input_shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
    ):
        raise _field(path, "input_shape", "[channels, height, width], three positive integers", shape)
    return tuple(shape)


def _check_normalization(path: Path, norm: Any, spec: Spec) -> None:
    """What the spec's ``normalize`` produces: nothing, its own mean and std, or (``auto``)
    a training split's statistics, which lie within what pixels in [0, 1] can have."""
    data = spec.data
    if data.normalize in ("none", "scale"):
        if norm is not None:
            raise _field(path, "normalization", "null (the spec normalises nothing)", norm)
        return
    channels = data.dataset.input_shape[0]
    if not isinstance(norm, dict) or set(norm) != {"mean", "std", "from"}:
        raise _field(path, "normalization", "{mean, std, from}", norm)
    if data.normalize == "stats":
        if norm != {"mean": list(data.mean), "std": list(data.std), "from": "spec"}:
            expected = f"the spec's mean {list(data.mean)} and std {list(data.std)}, from spec"
            raise _field(path, "normalization", expected, norm)
        return
    if norm["from"] != "training split":
        raise _field(path, "normalization.from", "training split (the spec's normalize: auto)", norm["from"])
    for key, low in (("mean", 0.0), ("std", _smallest_std())):
        values = norm[key]
        if (
            not isinstance(values, list)
            or len(values) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= 1 for v in values)
        ):
            expected = f"a list of one number per channel ({channels}), each from {low:.3g} to 1"
            raise _field(path, f"normalization.{key}", expected, values)


def _smallest_std() -> float:
    """The smallest standard deviation a channel of a training split can have, unless it is
    0 (``normalize: auto`` refuses that): one pixel a level (1/255) apart from all the
    others, in the most pixels this machine could hold."""
    most_pixels = physical_memory() / BYTES_PER_PIXEL
    return 1 / (255 * math.sqrt(most_pixels))


def _field(path: Path, field: str, expected: str, got: Any) -> DataError:
    return DataError(f"{path}: {field} must be {expected}, got {excerpt(got)}")
