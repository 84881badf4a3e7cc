"""Spec -> ``nn.Sequential``: torch's build, re-exported. A ``LightningModule`` wraps the
model PyTorch users build (``train.LitModel``); it does not build another."""

from torch_impl.build import LAYERS, PADS, build_model, count_parameters

__all__ = ["PADS", "LAYERS", "build_model", "count_parameters"]
