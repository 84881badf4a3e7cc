"""The spec language in PyTorch: torch's calls, re-exported. A ``LightningModule`` holds the
very ``nn`` modules, loss and optimizer a PyTorch user makes; the Trainer clips the gradients."""

from __future__ import annotations

from torch_impl.calls import (
    LAYERS,
    FUSED,
    layer_calls,
    module_calls,
    reinit,
    set_weights_calls,
    LOSSES,
    OPTIMIZERS,
    optimizer_call,
    CLIPS,
    clip_call,
)  # noqa: I001
from spec.schema import Clip

__all__ = [
    "LAYERS",
    "FUSED",
    "layer_calls",
    "module_calls",
    "reinit",
    "set_weights_calls",
    "LOSSES",
    "OPTIMIZERS",
    "optimizer_call",
    "CLIPS",
    "clip_call",
    "gradient_clipping",
]


def gradient_clipping(clip: Clip | None) -> dict:
    """``pl.Trainer``'s clipping arguments: it clips between backward and the update with
    torch's ``clip_grad_value_`` or ``clip_grad_norm_``, its algorithms named as the spec's."""
    if clip is None:
        return {}
    return {"gradient_clip_val": clip.threshold, "gradient_clip_algorithm": clip.by}
