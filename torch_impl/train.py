"""The book's ``StepByStep`` trainer in PyTorch: a hand-written loop, as the book writes it.

``keras_impl/train.py`` offers the same class with the same methods, in the same order,
built on Keras' ``compile``/``fit`` and callbacks: read the two side by side.
"""

from __future__ import annotations

import copy
import pickle
import random
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from common.errors import DataError
from common.files.atomic import atomic_write
from common.present import plots
from common.present.tables import format_parameter_table
from common.runs.lr_range import learning_rates, smoothed
from common.runs.metrics import batch_counts, check_finite_losses, diverged
from spec.errors import TwinspecError
from spec.schema import TrainSpec
from torch_impl import data, share_with_tensorflow
from torch_impl.build import FUSED, count_parameters, parameter_table
from torch_impl.semantics import ProbsNLLLoss

EpochCallback = Callable[[int, float, float, float], None]  # epoch, loss, val_loss, val_acc
CHECKPOINT_KEYS = {"epoch", "model_state_dict", "optimizer_state_dict", "loss", "val_loss", "val_accuracy", "rng_state"}
CHECKPOINT_KEYS |= {"pipeline"}  # the rest of the book's checkpoint: generators and the loader's position

LOSSES: dict[str, Callable[[], nn.Module]] = {
    "bce": nn.BCELoss,
    "bce_logits": nn.BCEWithLogitsLoss,
    "cross_entropy": nn.CrossEntropyLoss,
    "cross_entropy_probs": ProbsNLLLoss,
    "nll": nn.NLLLoss,
}


def make_loss(loss: str, mode: str = "native") -> nn.Module:
    """The spec's loss. Torch's semantics are lockstep's reference, so ``mode`` changes nothing."""
    return LOSSES[loss]()


def infer_loss_kind(loss_fn: nn.Module) -> str:
    """The spec's name for a loss object: how the trainer turns outputs into classes."""
    for kind, loss_class in LOSSES.items():  # the exact class first: ProbsNLLLoss is an NLLLoss
        if type(loss_fn) is loss_class:
            return kind
    for kind, loss_class in LOSSES.items():
        if isinstance(loss_fn, loss_class):
            return kind
    known = ", ".join(cls.__name__ for cls in LOSSES.values())
    raise TwinspecError(f"cannot tell what {type(loss_fn).__name__} expects: use one of {known}, or pass loss_kind")


def make_optimizer(model: nn.Module, train: TrainSpec, mode: str = "native") -> torch.optim.Optimizer:
    """The spec's optimizer. Torch's semantics are lockstep's reference, so ``mode`` changes nothing."""
    p = train.optimizer_params
    if train.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"], nesterov=p["nesterov"])
    return torch.optim.Adam(model.parameters(), lr=p["lr"], betas=p["betas"], eps=p["eps"])


class StepByStep:
    """The book's trainer: ``set_seed`` at the start, per-batch steps, mean batch losses."""

    def __init__(
        self, model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, loss_kind: str | None = None
    ) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        # how outputs become classes (common.runs.metrics); the book's three arguments infer it
        self.loss_kind = loss_kind or infer_loss_kind(loss_fn)
        self.train_loader: DataLoader | None = None
        self.val_loader: DataLoader | None = None
        self.test_loader: DataLoader | None = None
        self.writer = None
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_accuracies: list[float] = []
        self.total_epochs = 0
        self.visualization: dict[str, np.ndarray] = {}  # hooked layers' outputs, (N, C, H, W) or (N, F)
        self.visualized_inputs: np.ndarray | None = None  # what produced them, (N, C, H, W)
        self.handles: dict[str, torch.utils.hooks.RemovableHandle] = {}

    @classmethod
    def from_spec(cls, model: nn.Module, train: TrainSpec, mode: str = "native") -> StepByStep:
        return cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)

    # -- training ----------------------------------------------------------------------

    def set_loaders(
        self, train_loader: DataLoader, val_loader: DataLoader | None = None, test_loader: DataLoader | None = None
    ) -> None:
        """``test_loader`` is kept for :meth:`evaluate` after training; ``train`` never reads it."""
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.test_loader = test_loader

    def set_tensorboard(self, name: str, folder: str | Path = "runs") -> Path:
        """Log each epoch's losses and validation accuracy under ``folder/name_<time>``.

        The book's tags: ``loss`` (training and validation) and ``accuracy`` (validation),
        which the Keras trainer writes too, so one TensorBoard shows both frameworks.
        ``torch.utils.tensorboard`` loads TensorFlow when it is installed (TensorBoard reads
        files through it), so the process is made safe for it first (see ``torch_impl``).
        """
        share_with_tensorflow()
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(folder) / f"{name}_{time.strftime('%Y%m%d%H%M%S')}"
        self.writer = SummaryWriter(str(log_dir))
        return log_dir

    def set_seed(self, seed: int = 42) -> None:
        """The book's ``set_seed``: every generator the loop draws from, sampler's included."""
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        if self.train_loader is not None:
            data.reseed(self.train_loader, seed)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = _loss_of(self.loss_fn, self.model(x), y, "training")
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def _val_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
        yhat = self.model(x)
        loss = _loss_of(self.loss_fn, yhat, y, "validation")
        return loss.item(), batch_counts(yhat.numpy(), y.numpy(), self.loss_kind)

    def train(self, n_epochs: int, seed: int | None = 42, on_epoch: EpochCallback | None = None) -> None:
        """Train ``n_epochs`` more epochs. Like the book, reseed first; ``seed=None`` draws on
        from where the generators stand (resuming from a checkpoint)."""
        if self.train_loader is None:
            raise TwinspecError("set_loaders() first: the trainer has no training loader")
        if seed is not None:
            self.set_seed(seed)
        left = data.planned_epochs_left(self.train_loader)
        if left is not None and n_epochs > left:
            raise TwinspecError(f"the batch plan has {left} of its epochs left, not {n_epochs}: make a longer plan")
        try:
            for _ in range(n_epochs):
                self._epoch(on_epoch)
        except FloatingPointError as exc:  # BCELoss given outputs that are not numbers (_loss_of)
            raise diverged(self.total_epochs + 1, str(exc)) from None
        finally:
            if self.writer is not None:
                self.writer.close()  # as the book does; the next add_scalars opens it again

    def _epoch(self, on_epoch: EpochCallback | None) -> None:
        # The book's step functions set the mode at every step; nothing changes it between
        # two steps of a loop, so once per loop is the same run (module.train() walks every
        # module: some 0.1 ms a step, a tenth of a small model's epoch).
        self.model.train()
        batch_losses = [self._train_step(x, y) for x, y in self.train_loader]
        val_steps = []
        if self.val_loader is not None:
            self.model.eval()
            with torch.no_grad():
                val_steps = [self._val_step(x, y) for x, y in self.val_loader]
        self._end_epoch(batch_losses, val_steps, on_epoch)

    def _end_epoch(
        self, batch_losses: list[float], val_steps: list[tuple[float, np.ndarray]], on_epoch: EpochCallback | None
    ) -> None:
        """The epoch's figures as the book computes them: plain means of the batch losses
        (the Lightning column, whose loop is the Trainer's, ends its epochs here too)."""
        self.total_epochs += 1
        loss = float(np.mean(batch_losses))
        self.losses.append(loss)
        val_loss = val_acc = float("nan")
        if self.val_loader is not None:
            val_loss = float(np.mean([step_loss for step_loss, _ in val_steps]))
            counts = np.sum([step_counts for _, step_counts in val_steps], axis=0)
            val_acc = float(counts[:, 0].sum() / counts[:, 1].sum())
            self.val_losses.append(val_loss)
            self.val_accuracies.append(val_acc)
        check_finite_losses(self.total_epochs, loss, val_loss if self.val_loader is not None else None)
        if self.writer is not None:
            self._log_epoch(self.total_epochs, loss, val_loss, val_acc)
        if on_epoch is not None:
            on_epoch(self.total_epochs, loss, val_loss, val_acc)

    def _log_epoch(self, epoch: int, loss: float, val_loss: float, val_acc: float) -> None:
        scalars = {"training": loss} if self.val_loader is None else {"training": loss, "validation": val_loss}
        self.writer.add_scalars("loss", scalars, epoch)
        if self.val_loader is not None:
            self.writer.add_scalars("accuracy", {"validation": val_acc}, epoch)
        self.writer.flush()

    def evaluate(self, loader: DataLoader) -> tuple[float, np.ndarray]:
        """The mean batch loss and per-class ``[correct, total]`` over ``loader``: the book's
        validation loop, under ``no_grad``, run once (on the test split, after training)."""
        self.model.eval()
        with torch.no_grad():
            steps = [self._val_step(x, y) for x, y in loader]
        return _test_figures(steps)

    # -- prediction and metrics ----------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.no_grad():
            yhat = self.model(torch.as_tensor(x).float())
        self.model.train()
        if self.handles:
            nhwc = "nhwc_to_nchw" in dict(self.model.named_children())
            self.visualized_inputs = np.asarray(x).transpose(0, 3, 1, 2) if nhwc else np.asarray(x)
        return yhat.numpy()

    def correct(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-class ``[correct, total]`` for one batch, like the book's ``correct``."""
        return batch_counts(self.predict(x), y, self.loss_kind)

    @staticmethod
    def loader_apply(loader: DataLoader, func: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """``func`` on every batch of ``loader``, stacked (sum over axis 0 to total counts)."""
        return np.stack([func(np.asarray(x), np.asarray(y)) for x, y in loader])

    def count_parameters(self) -> int:
        return count_parameters(self.model)

    def parameter_table(self) -> str:
        """Each trainable tensor's shape and ``numel``, layer by layer, and the total."""
        return format_parameter_table(parameter_table(self.model), "torch: model.named_parameters()")

    # -- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, filename: str | Path) -> None:
        """Everything training needs to resume as if it never stopped: the book's model and
        optimizer states and losses, plus the random generators' and the loader's positions."""
        checkpoint = {
            "epoch": self.total_epochs,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "loss": self.losses,
            "val_loss": self.val_losses,
            "val_accuracy": self.val_accuracies,
            "rng_state": torch.get_rng_state(),
            "pipeline": data.pipeline_state(self.train_loader) if self.train_loader is not None else {},
        }
        try:
            with atomic_write(Path(filename)) as handle:
                torch.save(checkpoint, handle)
        except OSError as exc:
            raise DataError(f"cannot write checkpoint {filename}: {exc.strerror or exc}") from None

    def load_checkpoint(self, filename: str | Path) -> None:
        """Restore a checkpoint into this trainer; then ``train(n, seed=None)`` resumes.
        A checkpoint that does not fit is refused before anything changes."""
        try:
            checkpoint = torch.load(filename, weights_only=True)
        except FileNotFoundError:
            raise DataError(f"no checkpoint at {filename}") from None
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
            raise DataError(f"{filename} is not a checkpoint ({exc})") from None
        self._check_checkpoint(checkpoint, filename)
        self.model.load_state_dict(checkpoint["model_state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        if self.train_loader is not None:
            data.restore_pipeline(self.train_loader, checkpoint["pipeline"])
        torch.set_rng_state(checkpoint["rng_state"])
        self.total_epochs = checkpoint["epoch"]
        self.losses = list(checkpoint["loss"])
        self.val_losses = list(checkpoint["val_loss"])
        self.val_accuracies = list(checkpoint["val_accuracy"])
        self.model.train()

    def _check_checkpoint(self, checkpoint: dict, filename: str | Path) -> None:
        missing = CHECKPOINT_KEYS - set(checkpoint) if isinstance(checkpoint, dict) else CHECKPOINT_KEYS
        if missing:
            raise DataError(f"{filename} is not a checkpoint of this trainer: it lacks {', '.join(sorted(missing))}")
        shapes = {name: tuple(value.shape) for name, value in checkpoint["model_state_dict"].items()}
        if shapes != {name: tuple(value.shape) for name, value in self.model.state_dict().items()}:
            raise DataError(f"{filename} is not a checkpoint of this model: its model variables differ")
        groups = [len(group["params"]) for group in checkpoint["optimizer_state_dict"]["param_groups"]]
        if groups != [len(group["params"]) for group in self.optimizer.param_groups]:
            raise DataError(f"{filename} is not a checkpoint of this model: its optimizer variables differ")
        if self.train_loader is not None and set(checkpoint["pipeline"]) != set(data.pipeline_state(self.train_loader)):
            raise DataError(f"{filename} was saved with another kind of training loader")

    # -- figures -------------------------------------------------------------------------

    def plot_losses(self) -> Figure:
        return plots.losses_figure({"torch": (self.losses, self.val_losses)}, title="torch")

    def _layer(self, name: str) -> nn.Module:
        children = {child: module for child, module in self.model.named_children() if child != "nhwc_to_nchw"}
        if name not in children:
            raise TwinspecError(f"the model has no layer '{name}' (layers: {', '.join(children)})")
        return children[name]

    def _output_module(self, name: str) -> nn.Module:
        """The module whose output is layer ``name``'s: its fused activation's, if it has one
        (Keras' conv with ``activation="relu"`` outputs after the ReLU, and so must this)."""
        children = dict(self.model.named_children())
        fused = [children[f"{name}_{kind}"] for kind in FUSED if f"{name}_{kind}" in children]
        return fused[0] if fused else self._layer(name)

    def visualize_filters(self, layer: str) -> Figure:
        """A conv layer's kernels, ``(out, in, kh, kw)``, as images."""
        module = self._layer(layer)
        if not isinstance(module, nn.Conv2d):
            convs = [name for name, child in self.model.named_children() if isinstance(child, nn.Conv2d)]
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return plots.filters_figure(module.weight.detach().numpy(), layer)

    def attach_hooks(self, layers: Sequence[str]) -> None:
        """Record the outputs of ``layers`` (``(N, C, H, W)`` or ``(N, F)``) at each forward pass."""
        modules = {name: self._output_module(name) for name in layers}
        self.remove_hooks()

        def hook_for(name: str):
            def hook(module: nn.Module, inputs, outputs: torch.Tensor) -> None:
                self.visualization[name] = outputs.detach().numpy()

            return hook

        for name, module in modules.items():
            self.handles[name] = module.register_forward_hook(hook_for(name))

    def remove_hooks(self) -> None:
        for handle in self.handles.values():
            handle.remove()
        self.handles = {}

    def visualize_outputs(
        self,
        layers: Sequence[str],
        n_images: int = 10,
        y: np.ndarray | None = None,
        classes: Sequence[str] | None = None,
    ) -> Figure:
        """The inputs and outputs recorded at the last hooked ``predict``, for its first
        ``n_images``; ``y`` labels the rows with their classes."""
        return plots.recorded_outputs_figure(self.visualization, self.visualized_inputs, layers, n_images, y, classes)

    # -- learning-rate range test --------------------------------------------------------

    def lr_range_test(
        self, end_lr: float, num_iter: int = 100, step_mode: str = "exp", alpha: float = 0.05
    ) -> tuple[dict[str, list[float]], Figure]:
        """The book's range test: raise the learning rate each step over the training
        loader, record the smoothed loss, then put model, optimizer and generators back."""
        if self.train_loader is None:
            raise TwinspecError("set_loaders() first: the range test runs over the training loader")
        saved = {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "rng": torch.get_rng_state(),
            "pipeline": data.pipeline_state(self.train_loader),
        }
        start_lr = self.optimizer.param_groups[0]["lr"]
        lrs = learning_rates(start_lr, end_lr, num_iter, step_mode)
        scheduler = LambdaLR(self.optimizer, lr_lambda=lambda step: lrs[min(step, num_iter - 1)] / start_lr)
        raw: list[float] = []
        self.model.train()
        try:
            while len(raw) < num_iter:
                for x, y in self.train_loader:
                    loss = self.loss_fn(self.model(x), y)
                    loss.backward()
                    raw.append(loss.item())
                    self.optimizer.step()
                    scheduler.step()
                    self.optimizer.zero_grad()
                    if len(raw) == num_iter:
                        break
        finally:
            self.optimizer.load_state_dict(saved["optimizer"])
            self.model.load_state_dict(saved["model"])
            torch.set_rng_state(saved["rng"])
            data.restore_pipeline(self.train_loader, saved["pipeline"])
        tracking = {"lr": lrs.tolist(), "loss": smoothed(raw, alpha)}
        return tracking, plots.lr_range_figure(tracking["lr"], tracking["loss"], step_mode)


def _loss_of(loss_fn: nn.Module, yhat: torch.Tensor, y: torch.Tensor, what: str) -> torch.Tensor:
    """``loss_fn(yhat, y)``. torch's ``BCELoss`` refuses outputs that are not numbers with a
    ``RuntimeError`` ("all elements of input should be between 0 and 1") where its other
    losses, and every other column's, give NaN: a ``FloatingPointError`` here, which
    ``train`` ends as it ends every run whose loss stopped being a number."""
    try:
        return loss_fn(yhat, y)
    except RuntimeError:
        if torch.isfinite(yhat).all():
            raise
        raise FloatingPointError(f"{what} loss is nan") from None


def _test_figures(steps: list[tuple[float, np.ndarray]]) -> tuple[float, np.ndarray]:
    """``evaluate``'s figures from its batches' ``(loss, counts)``: the plain mean of the batch
    losses and the summed per-class counts (Lightning's ``trainer.test`` records the same steps)."""
    return float(np.mean([loss for loss, _ in steps])), np.sum([counts for _, counts in steps], axis=0)
