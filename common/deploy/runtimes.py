"""Exported models in their deployment runtimes: ONNX Runtime for ``.onnx`` files, the
LiteRT interpreter (``ai-edge-litert``) for ``.tflite`` ones, and, through the column the
format table names, ``torch.export.load`` for ``.pt2`` archives and ``tf.saved_model.load``
for SavedModel folders. Each runtime is imported when a file of its format is opened, and
only then (README, "Deployment")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import columns
from common.deploy.files import read_info
from common.deploy.formats import FORMATS, DeployInfo, exported_format
from common.errors import DataError

Predict = Callable[[np.ndarray], np.ndarray]  # uint8 images in the file's layout -> float32 outputs


@dataclass(frozen=True)
class Exported:
    """An exported model opened in its runtime."""

    path: Path
    info: DeployInfo
    runtime: str
    predict: Predict


def open_exported(path: Path, fmt: str | None = None) -> Exported:
    """The exported model at ``path`` (its format from its name unless given), its
    description read first: a file twinspec did not write is refused before it loads."""
    fmt = fmt or exported_format(path)
    if fmt is None:
        raise DataError(f"{path} is not an exported model (.onnx, .pt2, .tflite or a SavedModel folder)")
    info = read_info(fmt, path)
    if info.format != fmt:
        raise DataError(f"{path}: its description says {info.format}, but the file is {fmt}")
    loader = FORMATS[fmt].loader
    predict = columns.load(loader, "deploy").load_exported(fmt, path) if loader else _RUNTIMES[fmt](path)
    return Exported(Path(path), info, FORMATS[fmt].runtime, _checked(predict, path))


def _checked(predict: Predict, path: Path) -> Predict:
    """A runtime's refusal of the inputs (a shape the graph does not take) as one line."""

    def run(images: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(predict(images), np.float32)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: the runtime failed on the images ({' '.join(str(exc).split())[:200]})") from None

    return run


def onnx_session(model: str | bytes | Path):
    """An ONNX Runtime session on the CPU (a file, or a model's bytes)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings are about graph rewrites it chose
    source = str(model) if isinstance(model, Path) else model
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _onnx(path: Path) -> Predict:
    try:
        session = onnx_session(path)
        (name,) = [given.name for given in session.get_inputs()]
    except Exception as exc:
        raise DataError(f"{path} is not a loadable ONNX model ({' '.join(str(exc).split())[:160]})") from None
    return lambda images: session.run(None, {name: images})[0]


def _litert(path: Path) -> Predict:
    try:
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner()
        (name,) = runner.get_input_details()
    except Exception as exc:
        raise DataError(f"{path} is not a loadable LiteRT model ({' '.join(str(exc).split())[:160]})") from None

    def run(images: np.ndarray) -> np.ndarray:
        (outputs,) = runner(**{name: images}).values()
        return outputs

    return run


_RUNTIMES = {"onnx": _onnx, "litert": _litert}
