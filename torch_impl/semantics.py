"""What torch needs to compute what torch computes: nearly nothing.

Every column has this module; in the others it holds the classes that give their
framework torch's semantics (``keras_impl/semantics.py``). torch is the reference, so
its only adaptation is a loss the slides' models need and torch lacks.
"""

from __future__ import annotations

import torch
from torch import nn

ADAPTATIONS: dict[str, str] = {
    "ProbsNLLLoss": "cross-entropy on probabilities, which torch lacks: NLL of their clamped log (native, lockstep)",
}


class ProbsNLLLoss(nn.NLLLoss):
    """Cross-entropy on probabilities, for a model that ends in ``nn.Softmax``: what a
    PyTorch user writes, ``NLLLoss`` of their log. Torch has no such loss, and
    ``log(0) = -inf`` once a probability underflows, so the probabilities are clamped at
    the smallest normal float first (a log of -87.3 at worst): finite loss and gradients,
    as ``BCELoss`` keeps its own by clamping its logs at -100."""

    def forward(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.log(probs.clamp(min=torch.finfo(probs.dtype).tiny)), target)

