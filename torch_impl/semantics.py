"""What torch needs to compute what torch computes: nearly nothing.

Every column has this module; in the others it holds the classes that give their
framework torch's semantics (``keras_impl/semantics.py``). torch is the reference, so
its only adaptation is a loss the slides' models need and torch lacks.
"""

from __future__ import annotations

import torch
from torch import nn

from common.calls import Substitutions

ADAPTATIONS: dict[str, str] = {
    "ProbsNLLLoss": "cross-entropy on probabilities, which torch lacks: NLL of their clamped log (native, lockstep)",
    "keras_init": "init: keras, Keras' default initial weights drawn in torch: glorot-uniform, zero biases",
    "inject_round_off": "the lockstep verdicts' noise floor: every value moved one ulp after each step",
    "loss_of": "BCELoss's refusal of outputs that are not numbers as the divergence every other loss reports",
}

# The calls lockstep replaces with torch's semantics (``common.calls.substitute``): none, for
# torch's are the reference.
LOCKSTEP: Substitutions = {}


class ProbsNLLLoss(nn.NLLLoss):
    """Cross-entropy on probabilities, for a model that ends in ``nn.Softmax``: what a
    PyTorch user writes, ``NLLLoss`` of their log. Torch has no such loss, and
    ``log(0) = -inf`` once a probability underflows, so the probabilities are clamped at
    the smallest normal float first (a log of -87.3 at worst): finite loss and gradients,
    as ``BCELoss`` keeps its own by clamping its logs at -100."""

    def forward(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.log(probs.clamp(min=torch.finfo(probs.dtype).tiny)), target)


def keras_init(model: nn.Module) -> None:
    """Keras' default initialisation, drawn over torch's: glorot-uniform weights and zero
    biases, layer by layer."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def inject_round_off(trainer, seed: int) -> None:
    """After every optimizer step of ``trainer`` (a ``StepByStep``, torch's or Lightning's: the
    hook is on the optimizer, which ``fit`` steps as the book's loop does), move each weight
    and running statistic one float32 ulp up or down, at random: the noise floor of the
    lockstep verdicts (``common.runs.runner.train_round_off``)."""
    generator = torch.Generator().manual_seed(seed)
    model = trainer.model

    def hook(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        with torch.no_grad():
            for tensor in (*model.parameters(), *model.buffers()):
                if tensor.is_floating_point():
                    upwards = torch.rand(tensor.shape, generator=generator) < 0.5
                    # towards +inf where upwards, else -inf, as +-1 times inf: 0.6 ms for lenet_lazy's
                    # 1.1 M values, where a filled tensor masked took 4.7 ms
                    target = (upwards.view(torch.int8) * 2 - 1).to(tensor.dtype).mul_(float("inf"))
                    torch.nextafter(tensor, target, out=tensor)

    trainer.optimizer.register_step_post_hook(hook)


def loss_of(loss_fn: nn.Module, yhat: torch.Tensor, y: torch.Tensor, what: str) -> torch.Tensor:
    """``loss_fn(yhat, y)``. torch's ``BCELoss`` refuses outputs that are not numbers with a
    ``RuntimeError`` ("all elements of input should be between 0 and 1") where its other
    losses, and every other column's, give NaN: a ``FloatingPointError`` here, which the
    trainer ends as it ends every run whose loss stopped being a number."""
    try:
        return loss_fn(yhat, y)
    except RuntimeError:
        if torch.isfinite(yhat).all():
            raise
        raise FloatingPointError(f"{what} loss is nan") from None
