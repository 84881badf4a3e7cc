"""The activation functions as torch computes them: torch's, re-exported (the same ``nn`` modules)."""

from torch_impl.activations import activation_layers, layer_curves, activation_curves  # noqa: I001  (torch's order)

__all__ = ["activation_layers", "layer_curves", "activation_curves"]
