"""The spec language in PyTorch: torch's calls, re-exported. A ``LightningModule`` holds the
very ``nn`` modules, loss and optimizer a PyTorch user makes."""

from torch_impl.calls import LAYERS, FUSED, layer_calls, module_calls, reinit, LOSSES, OPTIMIZERS, optimizer_call  # noqa: I001

__all__ = ["LAYERS", "FUSED", "layer_calls", "module_calls", "reinit", "LOSSES", "OPTIMIZERS", "optimizer_call"]
