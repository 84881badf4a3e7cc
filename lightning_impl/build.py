"""Spec -> ``nn.Sequential``: torch's build, re-exported. A ``LightningModule`` wraps the
model PyTorch users build (``semantics.LitModel``); it does not build another; a fused
activation is its own module after the layer, as in torch (``FUSED``)."""

from torch_impl.build import PADS, LAYERS, FUSED, build_model, count_parameters, parameter_table  # noqa: I001

__all__ = ["PADS", "LAYERS", "FUSED", "build_model", "count_parameters", "parameter_table"]
