"""One forward pass from given weights: torch's, re-exported. A ``LightningModule``'s
``forward`` is its ``nn.Sequential``'s, so forward parity is torch's by construction."""

from torch_impl.forward import initial_weights, forward  # noqa: I001  (torch's order)

__all__ = ["initial_weights", "forward"]
