"""The book's chapter-4 code, transcribed as the book writes it, as an independent reference.

Nothing here uses twinspec: the dataset generator, ``index_splitter``,
``make_balanced_sampler`` and ``StepByStep`` follow *Deep Learning with PyTorch
Step-by-Step*, chapter 4 (torchvision's v1 transforms, as in the book). Tests compare the
spec-compiled torch backend against this, draw for draw.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler, random_split
from torchvision.transforms import Compose, Normalize, RandomHorizontalFlip


def gen_img(start, target, fill=1, img_size=10):
    img = np.zeros((img_size, img_size), dtype=float)
    start_row, start_col = None, None
    if start > 0:
        start_row = start
    else:
        start_col = np.abs(start)
    if target == 0:
        if start_row is None:
            img[:, start_col] = fill
        else:
            img[start_row, :] = fill
    else:
        if start_col == 0:
            start_col = 1
        if target == 1:
            if start_row is not None:
                up = (range(start_row, -1, -1), range(0, start_row + 1))
            else:
                up = (range(img_size - 1, start_col - 1, -1), range(start_col, img_size))
            img[up] = fill
        else:
            if start_row is not None:
                down = (range(start_row, img_size, 1), range(0, img_size - start_row))
            else:
                down = (range(0, img_size - 1 - start_col + 1), range(start_col, img_size))
            img[down] = fill
    return 255 * img.reshape(1, img_size, img_size)


def generate_dataset(img_size=10, n_images=100, binary=True, seed=17):
    np.random.seed(seed)
    starts = np.random.randint(-(img_size - 1), img_size, size=(n_images,))
    targets = np.random.randint(0, 3, size=(n_images,))
    images = np.array([gen_img(s, t, img_size=img_size) for s, t in zip(starts, targets)], dtype=np.uint8)
    if binary:
        targets = (targets > 0).astype(int)
    return images, targets


class TransformedTensorDataset(Dataset):
    def __init__(self, x, y, transform=None):
        self.x = x
        self.y = y
        self.transform = transform

    def __getitem__(self, index):
        x = self.x[index]
        if self.transform:
            x = self.transform(x)
        return x, self.y[index]

    def __len__(self):
        return len(self.x)


def index_splitter(n, splits, seed=13):
    idx = torch.arange(n)
    splits_tensor = torch.as_tensor(splits)
    multiplier = n / splits_tensor.sum()
    splits_tensor = (multiplier * splits_tensor).long()
    diff = n - splits_tensor.sum()
    splits_tensor[0] += diff
    torch.manual_seed(seed)
    return random_split(idx, splits_tensor)


def make_balanced_sampler(y):
    classes, counts = y.unique(return_counts=True)
    weights = 1.0 / counts.float()
    sample_weights = weights[y.squeeze().long()]
    generator = torch.Generator()
    return WeightedRandomSampler(
        weights=sample_weights, num_samples=len(sample_weights), generator=generator, replacement=True
    )


class StepByStep:
    def __init__(self, model, loss_fn, optimizer):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.losses = []
        self.val_losses = []

    def set_loaders(self, train_loader, val_loader):
        self.train_loader = train_loader
        self.val_loader = val_loader

    def set_seed(self, seed=42):
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            self.train_loader.sampler.generator.manual_seed(seed)
        except AttributeError:
            pass

    def _mini_batch(self, validation=False):
        loader = self.val_loader if validation else self.train_loader
        losses = []
        for x_batch, y_batch in loader:
            if validation:
                self.model.eval()
                loss = self.loss_fn(self.model(x_batch), y_batch)
            else:
                self.model.train()
                loss = self.loss_fn(self.model(x_batch), y_batch)
                loss.backward()
                self.optimizer.step()
                self.optimizer.zero_grad()
            losses.append(loss.item())
        return np.mean(losses)

    def train(self, n_epochs, seed=42):
        self.set_seed(seed)
        for _ in range(n_epochs):
            self.losses.append(self._mini_batch(validation=False))
            with torch.no_grad():
                self.val_losses.append(self._mini_batch(validation=True))

    def correct(self, x, y, threshold=0.5):
        self.model.eval()
        yhat = self.model(x)
        self.model.train()
        predicted = (yhat > threshold).long()
        return torch.tensor([[(predicted[y == c] == c).sum().item(), (y == c).sum().item()] for c in range(2)])

    def loader_apply(self, loader, func):
        return torch.stack([func(x, y) for x, y in loader])


def chapter4(model_name: str):
    """One of the chapter's three runs: returns (losses, val_losses, per-class counts)."""
    images, labels = generate_dataset(img_size=5, n_images=300, binary=True, seed=13)
    x_tensor = torch.as_tensor(images / 255).float()
    y_tensor = torch.as_tensor(labels.reshape(-1, 1)).float()
    train_idx, val_idx = index_splitter(len(x_tensor), [80, 20])
    x_train, y_train = x_tensor[train_idx], y_tensor[train_idx]
    x_val, y_val = x_tensor[val_idx], y_tensor[val_idx]
    train_composer = Compose([RandomHorizontalFlip(p=0.5), Normalize(mean=(0.5,), std=(0.5,))])
    val_composer = Compose([Normalize(mean=(0.5,), std=(0.5,))])
    train_dataset = TransformedTensorDataset(x_train, y_train, transform=train_composer)
    val_dataset = TransformedTensorDataset(x_val, y_val, transform=val_composer)
    sampler = make_balanced_sampler(y_train)
    train_loader = DataLoader(dataset=train_dataset, batch_size=16, sampler=sampler)
    val_loader = DataLoader(dataset=val_dataset, batch_size=16)

    torch.manual_seed(17)
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    if model_name == "logistic":
        model.add_module("output", nn.Linear(25, 1, bias=False))
    else:
        model.add_module("hidden0", nn.Linear(25, 5, bias=False))
        if model_name == "relu":
            model.add_module("activation0", nn.ReLU())
        model.add_module("hidden1", nn.Linear(5, 3, bias=False))
        if model_name == "relu":
            model.add_module("activation1", nn.ReLU())
        model.add_module("output", nn.Linear(3, 1, bias=False))
    model.add_module("sigmoid", nn.Sigmoid())
    sbs = StepByStep(model, nn.BCELoss(), optim.SGD(model.parameters(), lr=0.1))
    sbs.set_loaders(train_loader, val_loader)
    sbs.train(50 if model_name == "relu" else 100)
    counts = sbs.loader_apply(val_loader, sbs.correct).sum(axis=0)
    return sbs.losses, sbs.val_losses, counts.tolist()
