"""The book's data pipeline, a batch at a time: a transforming ``Dataset``, ``DataLoader`` and sampler.

The book's dataset transforms each item as it is read: a ``Compose`` of a flip and a
normalisation per image, about 160 microseconds of Python and dispatch each, which was
most of a small model's epoch. Here the images are normalised once, as tensors, when the
loaders are made; the loader's batch sampler hands the dataset a whole batch of indices
(``DataLoader(..., sampler=BatchSampler(...), batch_size=None)``, torch's documented form
for datasets that index whole batches), and the flips run once per batch. The run is still
the book's, bit for bit: the same samplers draw the same indices, each image's flip is
drawn from the global generator in the same order (one word per image, as
``RandomHorizontalFlip`` draws them), and normalising is elementwise, so normalising every
image first and flipping after computes what the book's flip-then-normalise does.

In lockstep mode the training loader replays a batch plan from ``common.replay.plan`` instead:
its sampler hands out the plan's batches and flip decisions, epoch after epoch. It still
draws from the global generator what the book's sampler and flips draw, and discards it, so
that the model's own ``nn.Dropout`` draws the plan's masks: torch needs no lockstep layer.

The training ``DataLoader`` comes inside a :class:`TrainingLoader`, which owns the state it
draws from (the sampler's generator, or the plan's epoch) and names what a trainer does
with it. torchvision is imported only for a normalisation, which is what the listing
imports it for (its import loads ``torch._dynamo``, a second of start-up).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    WeightedRandomSampler,
)
from common.data.prep import Split, balanced_weights
from common.replay.plan import Plan
from spec.schema import DataSpec


class TransformedTensorDataset(Dataset):
    """The book's dataset, indexed by whole batches: ``dataset[indices]`` is one batch, with
    its transform applied to the batch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: nn.Module | None = None) -> None:
        self.x = x
        self.y = y
        self.transform = transform

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.as_tensor(indices)
        x = self.x.index_select(0, indices)  # one gather: x[indices] takes three times as long
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y.index_select(0, indices)

    def __len__(self) -> int:
        return len(self.x)


class RandomHorizontalFlips(nn.Module):
    """``v2.RandomHorizontalFlip`` for a batch: each image flips on its own draw, one
    ``torch.rand`` word per image in batch order, as the per-image transform draws them."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(len(x)) < self.p  # the per-image transform keeps an image when rand >= p
        return torch.where(flip.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


class PlannedDataset(TransformedTensorDataset):
    """Items are batches ``(indices, flips)``: the plan decides each flip. With ``hflip``,
    each batch still draws the words the book's per-image flips draw (one ``torch.rand``
    word per image), unused, so that the global generator moves on as in the book."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: nn.Module | None, hflip: float) -> None:
        super().__init__(x, y, transform)
        self.hflip = hflip

    def __getitem__(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        indices, flips = batch
        if self.hflip:
            torch.rand(len(indices))  # the book's flip draws
        x = self.x.index_select(0, indices)
        x = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y.index_select(0, indices)


class PlanSampler(Sampler[tuple[torch.Tensor, torch.Tensor]]):
    """A sampler of whole batches that replays one epoch of the plan each time the loader is
    iterated. With ``shuffles``, each epoch still draws the seed ``RandomSampler`` draws, unused."""

    def __init__(self, plan: Plan, shuffles: bool) -> None:
        self.plan = plan
        self.shuffles = shuffles
        self.epoch = 0  # the next epoch to replay

    def __iter__(self):
        batches = self.plan[self.epoch]  # the trainer checks first: planned_epochs_left
        self.epoch += 1
        if self.shuffles:
            torch.empty((), dtype=torch.int64).random_()  # RandomSampler's seed, as in the book
        for batch in batches:
            yield torch.as_tensor(batch.indices), torch.as_tensor(batch.flips)

    def __len__(self) -> int:
        return len(self.plan[0])  # every epoch has as many batches


class ChannelsLast(nn.Module):
    """A batch's images ``(N, C, H, W)`` as ``(N, H, W, C)``: an ``nhwc`` model's input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).contiguous()


def _images(x, data: DataSpec) -> torch.Tensor:
    """The images as one tensor, normalised once (what the book's transform does per item)."""
    x = torch.as_tensor(x)
    if data.mean is None:
        return x
    from torchvision.transforms import v2  # only where the listing normalises with it: see the docstring

    return v2.Normalize(mean=data.mean, std=data.std)(x)


def _transform(data: DataSpec, layout: str, random_flip: bool) -> nn.Module | None:
    """A batch's transforms: the random flips, then the layout."""
    steps: list[nn.Module] = []
    if random_flip and data.hflip:
        steps.append(RandomHorizontalFlips(p=data.hflip))
    if layout == "nhwc":
        steps.append(ChannelsLast())  # transforms work on N, C, H, W
    return nn.Sequential(*steps) if steps else None


def _targets(y, loss: str) -> torch.Tensor:
    """BCE wants float ``(N, 1)`` targets; the multiclass losses want int64 ``(N,)``.

    Copied (``torch.tensor``): a dataset's own labels (MNIST's test set) are read-only
    arrays, which ``torch.as_tensor`` would share, with a warning on every run."""
    if loss in ("bce", "bce_logits"):
        return torch.tensor(y.reshape(-1, 1)).float()
    return torch.tensor(y).long()


class TrainingLoader:
    """The training ``DataLoader`` and the state it draws from: a balanced sampler's own
    generator (which the book's ``set_seed`` reseeds), or the lockstep plan's epoch. The
    global generator (shuffling, flips) is the trainer's to seed and save."""

    def __init__(self, loader: DataLoader, generator: torch.Generator | None = None) -> None:
        self.loader = loader
        self.generator = generator
        sampler = loader.sampler
        self.plan = sampler if isinstance(sampler, PlanSampler) else None

    @classmethod
    def of(cls, loader: DataLoader | TrainingLoader) -> TrainingLoader:
        """A ``DataLoader`` someone made, as the book's trainer takes it: a sampler that has a
        generator of its own (``WeightedRandomSampler(..., generator=...)``) is reseeded by
        ``set_seed``, as the book's ``set_seed`` reseeds ``train_loader.sampler.generator``."""
        if isinstance(loader, TrainingLoader):
            return loader
        sampler = getattr(loader.sampler, "sampler", loader.sampler)  # inside a batch sampler, if any
        return cls(loader, getattr(sampler, "generator", None))

    def __iter__(self):
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)

    def reseed(self, seed: int) -> None:
        """Reseed the sampler's generator, or rewind the plan to its first epoch: a plan is
        what the book draws after ``set_seed``."""
        if self.generator is not None:
            self.generator.manual_seed(seed)
        if self.plan is not None:
            self.plan.epoch = 0

    def epochs_left(self) -> int | None:
        return None if self.plan is None else len(self.plan.plan) - self.plan.epoch

    def state(self) -> dict[str, torch.Tensor]:
        state = {}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        if self.plan is not None:
            state["plan_epoch"] = torch.tensor(self.plan.epoch)
        return state

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])
        if "plan_epoch" in state:
            self.plan.epoch = int(state["plan_epoch"])


def make_loaders(
    split: Split, data: DataSpec, loss: str, layout: str, seed: int, plan: Plan | None = None
) -> tuple[TrainingLoader, DataLoader]:
    """Training and validation loaders; ``seed`` seeds the balanced sampler's own generator,
    and a ``plan`` replaces the sampler and the random flips (lockstep mode)."""
    x_train, y_train = _images(split.x_train, data), _targets(split.y_train, loss)
    val_set = TransformedTensorDataset(
        _images(split.x_val, data), _targets(split.y_val, loss), _transform(data, layout, random_flip=False)
    )
    val_loader = DataLoader(val_set, sampler=_batches(SequentialSampler(val_set), data), batch_size=None)
    if plan is not None:
        train_set = PlannedDataset(x_train, y_train, _transform(data, layout, random_flip=False), data.hflip)
        sampler = PlanSampler(plan, data.sampler == "shuffle")
        return TrainingLoader(DataLoader(train_set, sampler=sampler, batch_size=None)), val_loader
    train_set = TransformedTensorDataset(x_train, y_train, _transform(data, layout, random_flip=True))
    generator = None
    if data.sampler == "balanced":
        weights = torch.as_tensor(balanced_weights(split.y_train))
        generator = torch.Generator().manual_seed(seed)  # the trainer's set_seed reseeds it, as in the book
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)
    elif data.sampler == "shuffle":  # draws its seed from the global generator, which set_seed seeds
        sampler = RandomSampler(train_set)
    else:
        sampler = SequentialSampler(train_set)
    train_loader = DataLoader(train_set, sampler=_batches(sampler, data), batch_size=None)
    return TrainingLoader(train_loader, generator), val_loader


def make_test_loader(split: Split, data: DataSpec, loss: str, layout: str) -> DataLoader | None:
    """The test split as the validation split is served (in order, normalised, no flips);
    None when the spec has no test split."""
    if split.x_test is None:
        return None
    test_set = TransformedTensorDataset(
        _images(split.x_test, data), _targets(split.y_test, loss), _transform(data, layout, random_flip=False)
    )
    return DataLoader(test_set, sampler=_batches(SequentialSampler(test_set), data), batch_size=None)


def _batches(sampler: Sampler[int], data: DataSpec) -> BatchSampler:
    """The sampler's indices in batches, the last one short: what ``batch_size=`` makes."""
    return BatchSampler(sampler, batch_size=data.batch_size, drop_last=False)


def numpy_batches(loader: DataLoader | TrainingLoader):
    """A loader's batches as numpy arrays."""
    return ((x.numpy(), y.numpy()) for x, y in loader)
