"""A trained model exported the way Lightning ships one: the ``LightningModule`` itself,
``LitModel.to_onnx`` (which hands it to ``torch.onnx.export``'s dynamo exporter) and
``torch.export`` of the module (a ``.pt2`` archive). Running the files, and the eager
forward, are torch's (a ``LightningModule``'s ``forward`` is its ``nn.Sequential``'s)."""

from __future__ import annotations

from pathlib import Path

from common.deploy.formats import DeployInfo
from common.files.weights import Weights
from lightning_impl.semantics import LitModel
from spec.schema import ModelSpec
from torch_impl import deploy as torch_deploy
from torch_impl.deploy import load_exported, predict_eager

__all__ = ["deployable", "predict_eager", "export", "load_exported"]


def deployable(model: ModelSpec, layout: str, weights: Weights, normalization: dict | None) -> LitModel:
    """torch's deployable (preprocessing and the trained ``nn.Sequential``) as the
    ``LightningModule`` the run trained, in eval mode."""
    return LitModel(torch_deploy.deployable(model, layout, weights, normalization)).eval()


def export(deployed: LitModel, fmt: str, path: Path, info: DeployInfo) -> None:
    """ONNX through ``LightningModule.to_onnx``; a ``.pt2`` archive as torch writes one."""
    if fmt != "onnx":
        torch_deploy.export(deployed, fmt, path, info)
        return
    sample, batch = torch_deploy._sample(info)
    torch_deploy._save_onnx(deployed.to_onnx(None, sample, **torch_deploy._onnx_options(batch)), path, info)
