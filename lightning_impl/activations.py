"""The activation functions as torch computes them: torch's, re-exported (the same ``nn`` layers)."""

from torch_impl.activations import SLOPE, INIT, activation_layers, activation_curves  # noqa: I001  (torch's order)

__all__ = ["SLOPE", "INIT", "activation_layers", "activation_curves"]
