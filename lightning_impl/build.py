"""Spec -> ``nn.Sequential``: torch's build, re-exported. A ``LightningModule`` wraps the
model PyTorch users build (``semantics.LitModel``); it does not build another."""

from torch_impl.build import NAMESPACE, ChannelsFirst, build_model, count_parameters, parameter_table  # noqa: I001

__all__ = ["NAMESPACE", "ChannelsFirst", "build_model", "count_parameters", "parameter_table"]
