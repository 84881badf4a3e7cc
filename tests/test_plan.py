"""common's batch plan is what the book's DataLoader draws, sample for sample, flip for
flip, and what its dropout layers draw, mask for mask."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from common.data.prep import Split
from common.replay.plan import book_plan, dropout_scale, layout_dependent_masks, mask_arrays
from spec import list_specs, load_spec, resolve_spec
from spec.schema import LAYOUTS
from torch_impl.build import build_model
from torch_impl.data import make_loaders
from torch_impl.train import StepByStep

DROPOUT = Path(__file__).parent / "specs" / "dropout_maps.yaml"


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


# The pipeline alone, through an identity model: for models without dropout (a model that
# has it draws between the batches: test_the_plan_holds_the_masks_torch_draws)
PLANNED = [spec for spec in list_specs() if all(layer.kind != "dropout" for layer in spec.model.layers)]


def test_every_sampler_and_flips_are_covered():
    assert {spec.data.sampler for spec in PLANNED} == {"balanced", "shuffle"}
    assert any(spec.data.hflip for spec in PLANNED)


@pytest.mark.parametrize("spec", PLANNED, ids=lambda spec: spec.name)
def test_the_plan_is_what_torch_draws(spec):
    n, epochs = 50, 3
    labels = np.arange(n) % spec.data.dataset.n_classes
    plan = book_plan(spec.data, spec.model, labels, spec.train.seed, epochs, "nchw")
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
    plan = book_plan(spec.data, spec.model, np.arange(40) % 2, 42, 2, "nchw")
    assert [list(batch.indices) for batch in plan[1]] == [list(range(0, 16)), list(range(16, 32)), list(range(32, 40))]
    seen = _observed(spec, 40, 2)
    assert [[list(b.flips) for b in epoch] for epoch in plan] == [[flips for _, flips in epoch] for epoch in seen]


def _dropout_draws(spec, layout: str, n: int, epochs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train torch natively as the book does; record every dropout layer's input and output."""
    x = np.random.default_rng(0).random((n, *spec.model.layers[0].in_shape), dtype=np.float32)
    labels = np.arange(n) % spec.data.dataset.n_classes
    split = Split(x, labels, x[:10], labels[:10], ("a", "b", "c")[: spec.data.dataset.n_classes])
    model = build_model(spec.model, layout)
    seen = []
    for module in model:
        if isinstance(module, nn.Dropout):
            module.register_forward_hook(
                lambda m, inputs, output: (
                    seen.append((inputs[0].detach().numpy(), output.detach().numpy())) if m.training else None
                )
            )
    trainer = StepByStep.from_spec(model, spec.train)
    trainer.set_loaders(*make_loaders(split, spec.data, spec.train.loss, layout, spec.train.seed))
    trainer.train(epochs, seed=spec.train.seed)
    return seen


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("path", [resolve_spec("cnn2"), DROPOUT], ids=["cnn2", "dropout"])
def test_the_plan_holds_the_masks_torch_draws(path, layout):
    """Bit for bit, through shuffling, flips and a short last batch, in both layouts (an
    nhwc torch model draws a feature map's mask in channels-last order)."""
    spec = load_spec(path)
    n, epochs = 40, 2  # batches of 16, 16 and 8
    seen = _dropout_draws(spec, layout, n, epochs)
    plan = book_plan(spec.data, spec.model, np.arange(n) % spec.data.dataset.n_classes, spec.train.seed, epochs, layout)
    rates = [layer.params["p"] for layer in spec.model.layers if layer.kind == "dropout"]
    planned = [(mask, p) for epoch in plan for batch in epoch for mask, p in zip(batch.masks, rates, strict=True)]
    assert len(seen) == len(planned) == epochs * 3 * len(rates)
    for (inputs, output), (mask, p) in zip(seen, planned):
        assert mask.shape == inputs.shape and mask.dtype == bool
        assert np.array_equal(output, inputs * (mask * dropout_scale(p)))
    for masks, p in zip(mask_arrays(plan), rates):
        assert masks.shape[:2] == (epochs, n) and abs(masks.mean() - (1 - p)) < 0.05


def test_a_feature_maps_masks_depend_on_the_layout_and_a_vectors_do_not():
    spec = load_spec(DROPOUT)
    labels = np.arange(40) % 3
    nchw, nhwc = (mask_arrays(book_plan(spec.data, spec.model, labels, 9, 1, layout)) for layout in LAYOUTS)
    assert layout_dependent_masks(spec.model) == ["drop_map"]
    assert not np.array_equal(nchw[0], nhwc[0]) and np.array_equal(nchw[1], nhwc[1])
    assert layout_dependent_masks(load_spec(resolve_spec("cnn2")).model) == []


def test_rates_of_0_and_1_draw_nothing():
    spec = load_spec(DROPOUT)
    layers = tuple(
        dataclasses.replace(layer, params={"p": float(layer.name == "drop_units")})
        if layer.kind == "dropout"
        else layer
        for layer in spec.model.layers
    )
    model = dataclasses.replace(spec.model, layers=layers)
    labels = np.arange(40) % 3
    keep_all, drop_all = mask_arrays(book_plan(spec.data, model, labels, 9, 2, "nchw"))
    assert keep_all.all() and not drop_all.any()
    without = dataclasses.replace(model, layers=tuple(layer for layer in layers if layer.kind != "dropout"))
    assert [[list(b.flips) for b in epoch] for epoch in book_plan(spec.data, model, labels, 9, 2, "nchw")] == [
        [list(b.flips) for b in epoch] for epoch in book_plan(spec.data, without, labels, 9, 2, "nchw")
    ]


def test_big_seeds_keep_torchs_low_32_bits():
    torch.manual_seed(2**40 + 7)
    expected = torch.randperm(20).tolist()
    from common.replay.torch_random import TorchCPUGenerator

    assert TorchCPUGenerator(2**40 + 7).randperm(20).tolist() == expected
