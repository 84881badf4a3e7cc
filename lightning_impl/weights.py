"""torch model <-> neutral weights: torch's, re-exported (the model is torch's ``nn.Sequential``)."""

from torch_impl.weights import export_weights, import_weights

__all__ = ["export_weights", "import_weights"]
