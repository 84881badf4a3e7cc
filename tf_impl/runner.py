"""A spec trained end to end: natively, the way TensorFlow users train it, or
in lockstep, from common's initial weights and batch plan."""

from __future__ import annotations

from common.files.weights import Weights
from common.runs.inputs import run_inputs
from common.runs.result import RunResult
from common.runs.training import train_run
from spec.schema import Spec
from tf_impl import BACKEND
from tf_impl.build import build_model
from tf_impl.data import make_loaders, make_test_loader
from tf_impl.train import EpochCallback, StepByStep
from tf_impl.weights import export_weights, import_weights


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
