"""The activation functions as torch computes them: torch's, re-exported (the same ``nn`` layers)."""

from torch_impl.activations import INIT, SLOPE, activation_curves, activation_layers  # torch's order

__all__ = ["SLOPE", "INIT", "activation_layers", "activation_curves"]
