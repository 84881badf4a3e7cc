"""A trained model exported the way PyTorch ships models: an ONNX file through
``torch.onnx.export``'s dynamo exporter, and a ``torch.export`` ``ExportedProgram``
saved as a ``.pt2`` archive, which ``torch.export.load`` runs without twinspec.

The exported module is the trained ``nn.Sequential`` behind a small one that turns uint8
pixels into what the model trained on (pixels / 255, then the run's mean and std), so a
user feeds the images they have. The batch size stays free (``torch.export.Dim``).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.deploy.formats import INFO_FILE, INFO_KEY, ONNX_OPSET, DeployInfo
from common.errors import DataError
from common.files.weights import Weights
from spec.schema import ModelSpec
from torch_impl.build import build_model
from torch_impl.weights import import_weights


class _Pixels(nn.Module):
    """uint8 pixels -> the model's inputs, as training prepared them: / 255, then per channel
    ``(x - mean) / std`` (none for a run without normalisation)."""

    def __init__(self, normalization: dict | None, layout: str) -> None:
        super().__init__()
        shape = (1, -1, 1, 1) if layout == "nchw" else (1, 1, 1, -1)
        self.normalized = normalization is not None
        if normalization is not None:
            self.register_buffer("mean", torch.tensor(normalization["mean"], dtype=torch.float32).reshape(shape))
            self.register_buffer("std", torch.tensor(normalization["std"], dtype=torch.float32).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32) / 255
        return (x - self.mean) / self.std if self.normalized else x


def deployable(model: ModelSpec, layout: str, weights: Weights, normalization: dict | None) -> nn.Module:
    """The trained model behind its preprocessing, in eval mode: uint8 images in ``layout``
    in, the model's outputs out."""
    net = build_model(model, layout)
    import_weights(net, model, weights)
    return nn.Sequential(_Pixels(normalization, layout), net).eval()


def predict_eager(deployed: nn.Module, images: np.ndarray) -> np.ndarray:
    """The deployable's outputs in PyTorch itself (eager mode): what a deployment runtime is timed against."""
    with torch.no_grad():
        return deployed(torch.from_numpy(np.ascontiguousarray(images))).numpy()


def export(deployed: nn.Module, fmt: str, path: Path, info: DeployInfo) -> None:
    """Write ``deployed`` to ``path`` with PyTorch's own exporter, ``info`` embedded."""
    sample, batch = _sample(info)
    if fmt == "onnx":
        _save_onnx(torch.onnx.export(deployed, sample, **_onnx_options(batch)), path, info)
    else:
        program = torch.export.export(deployed, sample, dynamic_shapes=batch)
        torch.export.save(program, str(path), extra_files={INFO_FILE: info.to_json()})


def _sample(info: DeployInfo) -> tuple[tuple[torch.Tensor], tuple[dict]]:
    """Images to trace with (two: a batch of one would fix the size), and the free batch size."""
    channels, height, width = info.input_shape
    shape = (channels, height, width) if info.layout == "nchw" else (height, width, channels)
    return (torch.zeros((2, *shape), dtype=torch.uint8),), ({0: torch.export.Dim("batch")},)


def _onnx_options(batch: tuple[dict]) -> dict:
    """``torch.onnx.export``'s arguments (Lightning's ``to_onnx`` passes them on)."""
    return {
        "dynamo": True,
        "opset_version": ONNX_OPSET,
        "input_names": ["images"],
        "output_names": ["outputs"],
        "dynamic_shapes": batch,
        "verbose": False,
    }


def _save_onnx(program: torch.onnx.ONNXProgram, path: Path, info: DeployInfo) -> None:
    program.model.metadata_props[INFO_KEY] = info.to_json()
    program.save(str(path))


def load_exported(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A ``.pt2`` archive in ``torch.export.load``, on its safe path: ``torch.export.load``
    unpickles what the archive marks as pickled (``torch.load(weights_only=False)``, and
    plain ``pickle.loads`` for opaque constants), so an archive with such a payload is
    refused, and the rest loads with every ``torch.load`` forced to ``weights_only``."""
    _refuse_pickled(path)
    try:
        with _weights_only():
            module = torch.export.load(str(path)).module()
    except Exception as exc:  # a damaged archive can raise nearly anything
        raise DataError(f"{path} is not a loadable .pt2 archive ({' '.join(str(exc).split())[:160]})") from None

    def run(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(images))).numpy()

    return run


def _refuse_pickled(path: Path) -> None:
    """Every weight and constant of a ``.pt2`` archive must be raw tensor bytes."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(("_weights_config.json", "_constants_config.json")):
                    for entry in json.loads(archive.read(name))["config"].values():
                        plain = str(entry["path_name"]).startswith(("weight_", "tensor_"))
                        if entry["use_pickle"] or not plain:
                            raise DataError(f"{path}: holds pickled objects ({name}), which loading would run; refused")
    except (OSError, zipfile.BadZipFile, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a readable .pt2 archive ({exc})") from None


@contextmanager
def _weights_only() -> Iterator[None]:
    """``torch.load`` reads ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` at every call: while it is set, no
    call unpickles anything but tensors and plain containers."""
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = before
