"""The book's ``StepByStep`` trainer in PyTorch: a hand-written loop, as the book writes it.

What every column's trainer shares (history, seeding, epoch bookkeeping, figures, the range
test) is ``common.runs.trainer.StepByStepBase``; this is PyTorch's part: the steps, the
loop, the checkpoint file. ``keras_impl/train.py`` is the same class on Keras'
``compile``/``fit``: read the two side by side.
"""

from __future__ import annotations

import copy
import pickle
import random
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, LRScheduler, OneCycleLR, ReduceLROnPlateau
from torch.utils.data import DataLoader

from common.calls import call, instantiate, resolve, substitute
from common.errors import DataError
from common.files.atomic import atomic_write
from common.runs.metrics import batch_counts
from common.runs.schedules import check_schedule, check_scheduler_state
from common.runs.trainer import (
    HISTORY_KEYS,
    SCHEDULE_KEYS,
    EpochCallback,
    StepByStepBase,
    Steps,
    loop_figures,
    validation_figures,
)
from spec.errors import TwinspecError
from spec.schema import Scheduler, TrainSpec
from torch_impl import share_process
from torch_impl.build import NAMESPACE, parameter_table
from torch_impl.calls import FUSED, LOSSES, clip_call, optimizer_call, scheduler_call
from torch_impl.data import TrainingLoader, numpy_batches
from torch_impl.semantics import LOCKSTEP, loss_of

# The book's checkpoint, and the generators' and the loader's positions.
CHECKPOINT_KEYS = {*HISTORY_KEYS, "model_state_dict", "optimizer_state_dict", "rng_state", "pipeline"}

BATCH_SCHEDULERS = (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts)  # the book's batch schedulers

__all__ = ["EpochCallback", "CHECKPOINT_KEYS", "make_loss", "infer_loss_kind", "make_optimizer", "StepByStep"]


def make_loss(loss: str, mode: str = "native") -> nn.Module:
    """The spec's loss, as ``calls.LOSSES`` describes it (lockstep substitutes nothing: torch's
    semantics are the reference)."""
    made = LOSSES[loss]
    return instantiate(substitute(made, LOCKSTEP) if mode == "lockstep" else made, NAMESPACE)


def infer_loss_kind(loss_fn: nn.Module) -> str:
    """The spec's name for a loss object: how the trainer turns outputs into classes."""
    classes = {kind: resolve(made.path, NAMESPACE) for kind, made in LOSSES.items()}
    for kind, loss_class in classes.items():  # the exact class first: ProbsNLLLoss is an NLLLoss
        if type(loss_fn) is loss_class:
            return kind
    for kind, loss_class in classes.items():
        if isinstance(loss_fn, loss_class):
            return kind
    known = ", ".join(cls.__name__ for cls in classes.values())
    raise TwinspecError(f"cannot tell what {type(loss_fn).__name__} expects: use one of {known}, or pass loss_kind")


def make_optimizer(model: nn.Module, train: TrainSpec, mode: str = "native") -> torch.optim.Optimizer:
    """The spec's optimizer over ``model.parameters()``, as ``calls.optimizer_call`` describes it."""
    made = optimizer_call(train, call("model.parameters"))
    return instantiate(substitute(made, LOCKSTEP) if mode == "lockstep" else made, {**NAMESPACE, "model": model})


class StepByStep(StepByStepBase):
    """The book's trainer: ``set_seed`` at the start, per-batch steps, mean batch losses."""

    column = "torch"
    parameters_title = "torch: model.named_parameters()"

    def __init__(
        self, model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, loss_kind: str | None = None
    ) -> None:
        super().__init__(model, loss_fn, optimizer, loss_kind)
        self.writer = None  # the book's SummaryWriter, opened by the first epoch logged
        self.clipping: Callable[[], Any] | None = None  # the book's: clips the gradients in place

    infer_loss_kind = staticmethod(infer_loss_kind)

    @classmethod
    def from_spec(cls, model: nn.Module, train: TrainSpec, mode: str = "native") -> StepByStep:
        trainer = cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)
        return trainer._configured(train)

    # -- training ----------------------------------------------------------------------

    def _training_loader(self, loader: DataLoader | TrainingLoader) -> TrainingLoader:
        return TrainingLoader.of(loader)

    def _seed(self, seed: int) -> None:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = loss_of(self.loss_fn, self.model(x), y, "training")
        loss.backward()
        if self.clipping is not None:
            self.clipping()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def _val_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
        yhat = self.model(x)
        loss = loss_of(self.loss_fn, yhat, y, "validation")
        return loss.item(), batch_counts(yhat.numpy(), y.numpy(), self.loss_kind)

    def _clip_set(self) -> None:
        """As the book's ``set_clip_grad_value`` and ``set_clip_grad_norm``: a call of ``nn.utils``
        for the step to make between ``backward`` and ``step``."""
        self.clipping = None
        if self.clip is not None:
            made = clip_call(self.clip, call("model.parameters"))
            self.clipping = lambda: instantiate(made, {**NAMESPACE, "model": self.model})

    def _make_scheduler(self, scheduler: Scheduler, epochs: int) -> LRScheduler | ReduceLROnPlateau:
        """torch's own scheduler over the optimizer, as ``calls.scheduler_call`` describes it."""
        check_schedule(scheduler, epochs, len(self.train_loader))  # what torch would fail on part-way
        made = scheduler_call(scheduler, epochs, len(self.train_loader))
        return instantiate(made, {**NAMESPACE, "optimizer": self.optimizer})

    def _per_step(self, scheduler: LRScheduler | ReduceLROnPlateau) -> bool:
        """The book's ``is_batch_lr_scheduler``: the schedulers torch steps after every batch."""
        return isinstance(scheduler, BATCH_SCHEDULERS)

    def _watches_loss(self, scheduler: LRScheduler | ReduceLROnPlateau) -> bool:
        return isinstance(scheduler, ReduceLROnPlateau)

    def _scheduler_set(self) -> None:
        """torch's scheduler set the optimizer's rate as it was made."""

    def _advance_scheduler(self, val_loss: float | None = None) -> None:
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        else:
            self.scheduler.step()

    def _current_rate(self) -> float:
        """The optimizer's, a Python float: torch's schedulers set it there."""
        return self._learning_rate()

    def _scheduler_state(self) -> dict:
        return self.scheduler.state_dict()

    def _load_scheduler_state(self, state: dict) -> None:
        check_scheduler_state(state, self.scheduler.state_dict())
        self.scheduler.load_state_dict(state)

    def _scheduler_rate(self) -> float:
        return self._learning_rate()

    def _steps_per_epoch(self) -> int:
        return len(self.train_loader)

    def _train(self, n_epochs: int, on_epoch: EpochCallback | None) -> None:
        for _ in range(n_epochs):
            # The book's step functions set the mode at every step; nothing changes it between
            # two steps of a loop, so once per loop is the same run (module.train() walks every
            # module: some 0.1 ms a step, a tenth of a small model's epoch).
            self.model.train()
            batches = self._scheduled(self._stepped(self.train_loader, len(self.train_loader)))
            loss = float(np.mean([self._train_step(x, y) for x, y in batches]))
            validation = validation_figures(self._validate(self.val_loader)) if self.val_loader is not None else None
            self._end_epoch(loss, validation, on_epoch)

    def _validate(self, loader: DataLoader) -> Steps:
        self.model.eval()
        with torch.no_grad():
            return [self._val_step(x, y) for x, y in loader]

    def _log(self, epoch: int, scalars: list[tuple[str, str, float]]) -> None:
        """``SummaryWriter.add_scalars``, the book's: ``torch.utils.tensorboard`` loads TensorFlow
        when it is installed (TensorBoard reads files through it), so the process is made safe
        for it first (see ``torch_impl``)."""
        if self.writer is None:
            share_process()
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.log_dir))
        for tag in dict.fromkeys(tag for tag, _, _ in scalars):
            self.writer.add_scalars(tag, {run: value for t, run, value in scalars if t == tag}, epoch)
        self.writer.flush()

    def _close_log(self) -> None:
        if self.writer is not None:
            self.writer.close()  # as the book does; the next add_scalars opens it again

    def evaluate(self, loader: DataLoader) -> tuple[float, np.ndarray]:
        return loop_figures(self._validate(loader))

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

    _numpy_batches = staticmethod(numpy_batches)

    def _parameter_rows(self) -> list[tuple[str, str, tuple[int, ...], int]]:
        return parameter_table(self.model)

    # -- checkpoints ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "model_state_dict": copy.deepcopy(self.model.state_dict()),
            "optimizer_state_dict": copy.deepcopy(self.optimizer.state_dict()),
            "rng_state": torch.get_rng_state(),
            "pipeline": self.train_loader.state() if self.train_loader is not None else {},
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model_state_dict"])
        self.optimizer.load_state_dict(state["optimizer_state_dict"])
        if self.train_loader is not None:
            self.train_loader.restore(state["pipeline"])
        torch.set_rng_state(state["rng_state"])
        self.model.train()

    def _write_checkpoint(self, filename: Path, history: dict, state: dict[str, Any]) -> None:
        """The book's checkpoint dictionary, ``torch.save``d, with the generators' and the
        loader's positions besides."""
        try:
            with atomic_write(filename) as handle:
                torch.save({**history, **state}, handle)
        except (OSError, RuntimeError) as exc:  # a full disk is torch's RuntimeError
            raise DataError(f"cannot write checkpoint {filename}: {getattr(exc, 'strerror', None) or exc}") from None

    def _read_checkpoint(self, filename: Path) -> tuple[dict, dict[str, Any]]:
        """``torch.load(weights_only=True)``: tensors and plain containers, never code."""
        try:
            checkpoint = torch.load(filename, weights_only=True)
        except FileNotFoundError:
            raise DataError(f"no checkpoint at {filename}") from None
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
            raise DataError(f"{filename} is not a checkpoint ({exc})") from None
        if not isinstance(checkpoint, dict) or CHECKPOINT_KEYS - set(checkpoint):
            missing = sorted(CHECKPOINT_KEYS - set(checkpoint)) if isinstance(checkpoint, dict) else CHECKPOINT_KEYS
            raise DataError(f"{filename} is not a checkpoint of this trainer: it lacks {', '.join(missing)}")
        history = {key: checkpoint[key] for key in (*HISTORY_KEYS, *SCHEDULE_KEYS) if key in checkpoint}
        state = {key: checkpoint[key] for key in ("model_state_dict", "optimizer_state_dict", "rng_state", "pipeline")}
        self._check_state(state, filename)
        return history, state

    def _check_state(self, state: dict[str, Any], filename: Path) -> None:
        """Refuse a state that does not fit this model, optimizer and loader, tensor for tensor."""
        current = self._state()
        if not _same_tensors(state["model_state_dict"], current["model_state_dict"]):
            raise DataError(f"{filename} is not a checkpoint of this model: its model variables differ")
        saved = state["model_state_dict"]
        if not all(torch.isfinite(value).all() for value in saved.values() if value.is_floating_point()):
            raise DataError(f"{filename}: its model holds values that are not finite numbers")
        optimizer = state["optimizer_state_dict"]
        groups = optimizer.get("param_groups") if isinstance(optimizer, dict) else None
        if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups
        ):
            raise DataError(f"{filename} is not a checkpoint of this trainer: its optimizer state is not one")
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.optimizer.param_groups]:
            raise DataError(f"{filename} is not a checkpoint of this model: its optimizer variables differ")
        rng = state["rng_state"]
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.shape != current["rng_state"].shape:
            raise DataError(f"{filename}: its rng_state is not torch's generator state")
        pipeline = state["pipeline"]
        if not isinstance(pipeline, dict) or not _same_tensors(pipeline, current["pipeline"]):
            raise DataError(f"{filename} was saved with another kind of training loader")

    # -- figures -------------------------------------------------------------------------

    def _spec_layers(self) -> dict[str, nn.Module]:
        return {child: module for child, module in self.model.named_children() if child != "nhwc_to_nchw"}

    def _output_module(self, name: str) -> nn.Module:
        """The module whose output is layer ``name``'s: its fused activation's, if it has one
        (Keras' conv with ``activation="relu"`` outputs after the ReLU, and so must this)."""
        children = dict(self.model.named_children())
        fused = [children[f"{name}_{kind}"] for kind in FUSED if f"{name}_{kind}" in children]
        return fused[0] if fused else self._layer(name)

    def _kernels(self, layer: str) -> np.ndarray:
        module = self._layer(layer)
        if not isinstance(module, nn.Conv2d):
            convs = [name for name, child in self.model.named_children() if isinstance(child, nn.Conv2d)]
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return module.weight.detach().numpy()

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

    # -- learning-rate range test --------------------------------------------------------

    def _learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _set_rate(self, lr: float, momentum: float | None = None) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if momentum is not None:
                group["momentum"] = momentum

    def _range_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        self._set_rate(lr)
        self.model.train()
        return self._train_step(x, y)


def _same_tensors(saved: Any, current: dict[str, torch.Tensor]) -> bool:
    """Whether ``saved`` holds tensors of ``current``'s names, shapes and dtypes."""
    return (
        isinstance(saved, dict)
        and set(saved) == set(current)
        and all(
            isinstance(saved[key], torch.Tensor) and saved[key].shape == value.shape and saved[key].dtype == value.dtype
            for key, value in current.items()
        )
    )
