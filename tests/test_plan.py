"""common's batch plan is what the book's DataLoader draws, sample for sample, flip for flip."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from common.data.prep import Split
from common.replay.plan import book_plan
from spec import TwinspecError, list_specs, load_spec, resolve_spec
from torch_impl.data import make_loaders
from torch_impl.train import StepByStep


def _observed(spec, n: int, epochs: int) -> list[list[tuple[list[int], list[bool]]]]:
    """Run the torch pipeline as the trainer does; read indices and flips off the pixels."""
    x = np.zeros((n, 1, 2, 3), np.float32)
    x[:, 0, 0, 0] = np.arange(1, n + 1)  # sample i shows i + 1 at the left edge, or the right when flipped
    labels = np.arange(n) % spec.data.dataset.n_classes
    split = Split(x, labels, x[:10], labels[:10], ("a", "b", "c")[: spec.data.dataset.n_classes])
    data = dataclasses.replace(spec.data, mean=None, std=None)
    train_loader, val_loader = make_loaders(split, data, spec.train.loss, "nchw", spec.train.seed)
    trainer = StepByStep(nn.Identity(), None, None, spec.train.loss)
    trainer.set_loaders(train_loader, val_loader)
    trainer.set_seed(spec.train.seed)
    seen = []
    for _ in range(epochs):
        epoch = []
        for batch, _ in train_loader:
            row = batch[:, 0, 0, :].numpy()
            epoch.append((list(row.max(axis=1).astype(int) - 1), list(row[:, -1] > 0)))
        seen.append(epoch)
        for _ in val_loader:
            pass
    return seen


PLANNED = [spec for spec in list_specs() if not spec.model.dropout_layers]


def test_every_sampler_and_flips_are_covered():
    assert {spec.data.sampler for spec in PLANNED} == {"balanced", "shuffle"}
    assert any(spec.data.hflip for spec in PLANNED)


@pytest.mark.parametrize("spec", PLANNED, ids=lambda spec: spec.name)
def test_the_plan_is_what_torch_draws(spec):
    n, epochs = 50, 3
    labels = np.arange(n) % spec.data.dataset.n_classes
    plan = book_plan(spec.data, spec.model, labels, spec.train.seed, epochs)
    observed = _observed(spec, n, epochs)
    assert len(plan) == len(observed) == epochs
    for planned, seen in zip(plan, observed):
        assert [list(b.indices) for b in planned] == [indices for indices, _ in seen]
        assert [list(b.flips) for b in planned] == [flips for _, flips in seen]
    if spec.data.hflip:
        assert 0.3 < np.mean([f for epoch in plan for b in epoch for f in b.flips]) < 0.7


def test_sequential_sampling_is_planned_in_order():
    relu = load_spec(resolve_spec("relu"))
    spec = dataclasses.replace(relu, data=dataclasses.replace(relu.data, sampler="sequential"))
    plan = book_plan(spec.data, spec.model, np.arange(40) % 2, 42, 2)
    assert [list(batch.indices) for batch in plan[1]] == [list(range(0, 16)), list(range(16, 32)), list(range(32, 40))]
    seen = _observed(spec, 40, 2)
    assert [[list(b.flips) for b in epoch] for epoch in plan] == [[flips for _, flips in epoch] for epoch in seen]


def test_no_plan_for_dropout_models():
    spec = load_spec(resolve_spec("cnn2"))
    with pytest.raises(TwinspecError, match="dropout"):
        book_plan(spec.data, spec.model, np.zeros(10, np.int64), 42, 1)


def test_big_seeds_keep_torchs_low_32_bits():
    torch.manual_seed(2**40 + 7)
    expected = torch.randperm(20).tolist()
    from common.replay.torch_random import TorchCPUGenerator

    assert TorchCPUGenerator(2**40 + 7).randperm(20).tolist() == expected
