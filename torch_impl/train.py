"""The book's ``StepByStep`` trainer, reduced to what twinspec uses: a hand-written loop."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from common.metrics import batch_counts
from spec.schema import TrainSpec
from torch_impl.build import count_parameters

EpochCallback = Callable[[int, float, float, float], None]  # epoch, loss, val_loss, val_acc

LOSSES: dict[str, Callable[[], nn.Module]] = {
    "bce": nn.BCELoss,
    "bce_logits": nn.BCEWithLogitsLoss,
    "cross_entropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss,
}


def make_optimizer(model: nn.Module, train: TrainSpec) -> torch.optim.Optimizer:
    p = train.optimizer_params
    if train.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"], nesterov=p["nesterov"])
    return torch.optim.Adam(model.parameters(), lr=p["lr"], betas=p["betas"], eps=p["eps"])


class Trainer:
    """Trains like the book: ``set_seed`` at the start, per-batch steps, mean batch losses."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, loss_kind: str) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.loss_kind = loss_kind
        self.train_loader: DataLoader | None = None
        self.val_loader: DataLoader | None = None
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_accuracies: list[float] = []
        self.total_epochs = 0

    @classmethod
    def from_spec(cls, model: nn.Module, train: TrainSpec) -> Trainer:
        return cls(model, LOSSES[train.loss](), make_optimizer(model, train), train.loss)

    def set_loaders(self, train_loader: DataLoader, val_loader: DataLoader) -> None:
        self.train_loader = train_loader
        self.val_loader = val_loader

    def set_seed(self, seed: int = 42) -> None:
        """The book's ``set_seed``: every generator the loop draws from, sampler's included."""
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        generator = getattr(getattr(self.train_loader, "sampler", None), "generator", None)
        if generator is not None:
            generator.manual_seed(seed)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.model.train()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def _val_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
        self.model.eval()
        yhat = self.model(x)
        return self.loss_fn(yhat, y).item(), batch_counts(yhat.numpy(), y.numpy(), self.loss_kind)

    def train(self, n_epochs: int, seed: int = 42, on_epoch: EpochCallback | None = None) -> None:
        self.set_seed(seed)
        for _ in range(n_epochs):
            self.total_epochs += 1
            loss = float(np.mean([self._train_step(x, y) for x, y in self.train_loader]))
            with torch.no_grad():
                steps = [self._val_step(x, y) for x, y in self.val_loader]
            val_loss = float(np.mean([step_loss for step_loss, _ in steps]))
            counts = np.sum([step_counts for _, step_counts in steps], axis=0)
            self.losses.append(loss)
            self.val_losses.append(val_loss)
            self.val_accuracies.append(float(counts[:, 0].sum() / counts[:, 1].sum()))
            if on_epoch is not None:
                on_epoch(self.total_epochs, loss, val_loss, self.val_accuracies[-1])

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.no_grad():
            yhat = self.model(torch.as_tensor(x).float())
        self.model.train()
        return yhat.numpy()

    def correct(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-class ``[correct, total]`` for one batch, like the book's ``correct``."""
        return batch_counts(self.predict(x), y, self.loss_kind)

    def count_parameters(self) -> int:
        return count_parameters(self.model)

    @staticmethod
    def loader_apply(loader: DataLoader, func: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """``func`` on every batch of ``loader``, stacked (sum over axis 0 to total counts)."""
        return np.stack([func(np.asarray(x), np.asarray(y)) for x, y in loader])
