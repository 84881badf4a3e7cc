"""The book's data pipeline: a transforming ``Dataset``, ``DataLoader`` and sampler.

In lockstep mode the training loader replays a batch plan from ``common.replay.plan`` instead:
a batch sampler hands out the plan's samples and flip decisions, epoch after epoch. It still
draws from the global generator what the book's sampler and flips draw, and discards it, so
that the model's own ``nn.Dropout`` draws the plan's masks: torch needs no lockstep layer.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler
from torchvision.transforms import v2

from common.data.prep import Split, balanced_weights
from common.replay.plan import Plan
from spec.schema import DataSpec


class TransformedTensorDataset(Dataset):
    """The book's dataset: tensors, with a transform applied per item as it is read."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: v2.Transform | None = None) -> None:
        self.x = x
        self.y = y
        self.transform = transform

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[index]

    def __len__(self) -> int:
        return len(self.x)


class PlannedDataset(TransformedTensorDataset):
    """Items are ``(index, flip)`` pairs: the plan decides each flip. With ``hflip``, each
    item still draws the word ``RandomHorizontalFlip`` draws (``torch.rand(1)``), unused."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: v2.Transform | None, hflip: float) -> None:
        super().__init__(x, y, transform)
        self.hflip = hflip

    def __getitem__(self, item: tuple[int, bool]) -> tuple[torch.Tensor, torch.Tensor]:
        index, flip = item
        if self.hflip:
            torch.rand(1)  # the book's flip draw: the global generator moves on as in the book
        x = v2.functional.horizontal_flip(self.x[index]) if flip else self.x[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[index]


class PlanSampler(Sampler[list[tuple[int, bool]]]):
    """A batch sampler that replays one epoch of the plan each time the loader is iterated.
    With ``shuffles``, each epoch still draws the seed ``RandomSampler`` draws, unused."""

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
            yield list(zip(batch.indices.tolist(), batch.flips.tolist()))

    def __len__(self) -> int:
        return len(self.plan[0])  # every epoch has as many batches


def _transform(data: DataSpec, layout: str, random_flip: bool) -> v2.Compose | None:
    steps: list[v2.Transform] = []
    if random_flip and data.hflip:
        steps.append(v2.RandomHorizontalFlip(p=data.hflip))
    if data.mean is not None:
        steps.append(v2.Normalize(mean=data.mean, std=data.std))
    if layout == "nhwc":
        steps.append(v2.Lambda(lambda x: x.permute(1, 2, 0)))  # transforms work on C, H, W
    return v2.Compose(steps) if steps else None  # Compose refuses an empty list


def _targets(y, loss: str) -> torch.Tensor:
    """BCE wants float ``(N, 1)`` targets; the multiclass losses want int64 ``(N,)``.

    Copied (``torch.tensor``): a dataset's own labels (MNIST's test set) are read-only
    arrays, which ``torch.as_tensor`` would share, with a warning on every run."""
    if loss in ("bce", "bce_logits"):
        return torch.tensor(y.reshape(-1, 1)).float()
    return torch.tensor(y).long()


def make_loaders(
    split: Split, data: DataSpec, loss: str, layout: str, seed: int, plan: Plan | None = None
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders; ``seed`` seeds the balanced sampler's own generator,
    and a ``plan`` replaces the sampler and the random flips (lockstep mode)."""
    x_train, y_train = torch.as_tensor(split.x_train), _targets(split.y_train, loss)
    val_set = TransformedTensorDataset(
        torch.as_tensor(split.x_val), _targets(split.y_val, loss), _transform(data, layout, random_flip=False)
    )
    if plan is not None:
        train_set = PlannedDataset(x_train, y_train, _transform(data, layout, random_flip=False), data.hflip)
        train_loader = DataLoader(train_set, batch_sampler=PlanSampler(plan, data.sampler == "shuffle"))
    elif data.sampler == "balanced":
        train_set = TransformedTensorDataset(x_train, y_train, _transform(data, layout, random_flip=True))
        weights = torch.as_tensor(balanced_weights(split.y_train))
        generator = torch.Generator().manual_seed(seed)  # the trainer's set_seed reseeds it, as in the book
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)
        train_loader = DataLoader(train_set, batch_size=data.batch_size, sampler=sampler)
    else:  # shuffling draws from the global generator, which the trainer's set_seed seeds
        train_set = TransformedTensorDataset(x_train, y_train, _transform(data, layout, random_flip=True))
        train_loader = DataLoader(train_set, batch_size=data.batch_size, shuffle=data.sampler == "shuffle")
    val_loader = DataLoader(val_set, batch_size=data.batch_size)
    return train_loader, val_loader


def make_test_loader(split: Split, data: DataSpec, loss: str, layout: str) -> DataLoader | None:
    """The test split as the validation split is served (in order, normalised, no flips);
    None when the spec has no test split."""
    if split.x_test is None:
        return None
    test_set = TransformedTensorDataset(
        torch.as_tensor(split.x_test), _targets(split.y_test, loss), _transform(data, layout, random_flip=False)
    )
    return DataLoader(test_set, batch_size=data.batch_size)


def reseed(loader: DataLoader, seed: int) -> None:
    """Reseed the loader's own generator, if it has one (the book's ``set_seed`` does), or
    rewind its plan to the first epoch: a plan is what the book draws after ``set_seed``."""
    generator = getattr(loader.sampler, "generator", None)
    if generator is not None:
        generator.manual_seed(seed)
    if isinstance(loader.batch_sampler, PlanSampler):
        loader.batch_sampler.epoch = 0


def planned_epochs_left(loader: DataLoader) -> int | None:
    """How many epochs the loader's plan still holds; None for a loader that draws its own."""
    if not isinstance(loader.batch_sampler, PlanSampler):
        return None
    return len(loader.batch_sampler.plan) - loader.batch_sampler.epoch


def pipeline_state(loader: DataLoader) -> dict[str, torch.Tensor]:
    """Where the training loader stands: what a checkpoint needs to resume it exactly.
    The global generator (shuffling, flips) is the trainer's to save."""
    state = {}
    generator = getattr(loader.sampler, "generator", None)
    if generator is not None:
        state["generator"] = generator.get_state()
    if isinstance(loader.batch_sampler, PlanSampler):
        state["plan_epoch"] = torch.tensor(loader.batch_sampler.epoch)
    return state


def restore_pipeline(loader: DataLoader, state: dict[str, torch.Tensor]) -> None:
    """Put a loader back where :func:`pipeline_state` found it."""
    if "generator" in state:
        loader.sampler.generator.set_state(state["generator"])
    if "plan_epoch" in state:
        loader.batch_sampler.epoch = int(state["plan_epoch"])
