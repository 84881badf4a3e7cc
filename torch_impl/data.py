"""The book's data pipeline: a transforming ``Dataset``, ``DataLoader`` and sampler."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2

from common.prep import Split, balanced_weights
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


def _transform(data: DataSpec, layout: str, train: bool) -> v2.Compose | None:
    steps: list[v2.Transform] = []
    if train and data.hflip:
        steps.append(v2.RandomHorizontalFlip(p=data.hflip))
    if data.mean is not None:
        steps.append(v2.Normalize(mean=data.mean, std=data.std))
    if layout == "nhwc":
        steps.append(v2.Lambda(lambda x: x.permute(1, 2, 0)))  # transforms work on C, H, W
    return v2.Compose(steps) if steps else None  # Compose refuses an empty list


def _targets(y, loss: str) -> torch.Tensor:
    """BCE wants float ``(N, 1)`` targets; the multiclass losses want int64 ``(N,)``."""
    if loss in ("bce", "bce_logits"):
        return torch.as_tensor(y.reshape(-1, 1)).float()
    return torch.as_tensor(y).long()


def make_loaders(split: Split, data: DataSpec, loss: str, layout: str, seed: int) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders; ``seed`` seeds the balanced sampler's own generator."""
    train_set = TransformedTensorDataset(
        torch.as_tensor(split.x_train), _targets(split.y_train, loss), _transform(data, layout, train=True)
    )
    val_set = TransformedTensorDataset(
        torch.as_tensor(split.x_val), _targets(split.y_val, loss), _transform(data, layout, train=False)
    )
    if data.sampler == "balanced":
        weights = torch.as_tensor(balanced_weights(split.y_train))
        generator = torch.Generator().manual_seed(seed)  # the trainer's set_seed reseeds it, as in the book
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)
        train_loader = DataLoader(train_set, batch_size=data.batch_size, sampler=sampler)
    else:  # shuffling draws from the global generator, which the trainer's set_seed seeds
        train_loader = DataLoader(train_set, batch_size=data.batch_size, shuffle=data.sampler == "shuffle")
    val_loader = DataLoader(val_set, batch_size=data.batch_size)
    return train_loader, val_loader
