"""A spec trained end to end: natively, the way PyTorch users (and the book) train it, or
in lockstep, from common's initial weights and batch plan."""

from __future__ import annotations

import torch
from torch import nn

from common.files.weights import Weights
from common.runs.inputs import run_inputs
from common.runs.result import RunResult
from common.runs.training import train_run
from spec.schema import Spec
from torch_impl import BACKEND
from torch_impl.build import build_model
from torch_impl.data import make_loaders, make_test_loader
from torch_impl.train import EpochCallback, StepByStep
from torch_impl.weights import export_weights, import_weights


def make_trainer(spec: Spec, layout: str, mode: str = "native", init: Weights | None = None) -> StepByStep:
    """A trainer with its model and loaders, ready to ``train``; ``init`` replaces the
    initial weights (neutral format)."""
    inputs = run_inputs(spec, layout, mode, init)
    train_loader, val_loader = make_loaders(
        inputs.split, inputs.data, spec.train.loss, layout, spec.train.seed, inputs.plan
    )
    test_loader = make_test_loader(inputs.split, inputs.data, spec.train.loss, layout)
    model = build_model(spec.model, layout, mode)
    if inputs.init is not None:
        import_weights(model, spec.model, inputs.init)
    trainer = StepByStep.from_spec(model, spec.train, mode)
    trainer.set_loaders(train_loader, val_loader, test_loader)
    return trainer


def train_spec(
    spec: Spec, layout: str, mode: str = "native", on_epoch: EpochCallback | None = None, init: Weights | None = None
) -> RunResult:
    """Train ``spec`` for its epochs and collect what the run produced."""
    trainer = make_trainer(spec, layout, mode, init)
    return train_run(trainer, spec, backend=BACKEND, layout=layout, mode=mode, export=export_weights, on_epoch=on_epoch)


def train_round_off(spec: Spec, layout: str, init: Weights | None = None, seed: int = 0) -> RunResult:
    """The lockstep run again, with every weight and running statistic moved one float32
    ulp up or down, at random, after every optimizer step: what another correct float32
    implementation does to the run, rounding each update its own way. The reference's
    lockstep verdicts measure their noise floor with it (``common.parity.checks``)."""
    trainer = make_trainer(spec, layout, "lockstep", init)
    trainer.optimizer.register_step_post_hook(_round_off(trainer.model, seed))
    return train_run(trainer, spec, backend=BACKEND, layout=layout, mode="lockstep", export=export_weights)


def _round_off(model: nn.Module, seed: int):
    generator = torch.Generator().manual_seed(seed)

    def hook(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        with torch.no_grad():
            for tensor in (*model.parameters(), *model.buffers()):
                if tensor.is_floating_point():
                    upwards = torch.rand(tensor.shape, generator=generator) < 0.5
                    # towards +inf where upwards, else -inf, as +-1 times inf: 0.6 ms for lenet_lazy's
                    # 1.1 M values, where a filled tensor masked took 4.7 ms
                    target = (upwards.view(torch.int8) * 2 - 1).to(tensor.dtype).mul_(float("inf"))
                    torch.nextafter(tensor, target, out=tensor)

    return hook
