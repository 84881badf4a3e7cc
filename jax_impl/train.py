"""The book's ``StepByStep`` trainer in JAX: a training step written with ``nnx.value_and_grad``
and compiled with ``jax.jit``, an Optax optimizer in an ``nnx.Optimizer``, numpy batches.

What every column's trainer shares is ``common.runs.trainer.StepByStepBase``; this is JAX's
part. The steps are the Flax MNIST tutorial's ``train_step`` and ``eval_step``, compiled in
the functional form Flax's "performance considerations" recommend for small models: the
model and optimizer split once into a graph definition and their state (``nnx.split``), the
state carried from step to step through ``jax.jit``, merged back into the objects at each
epoch's end (``nnx.update``). Read it beside ``tf_impl/train.py``, the same loop on a
``tf.GradientTape``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from common.calls import instantiate, resolve, substitute
from common.files.checkpoint import check_fit, group, in_order, numbered, read_checkpoint, write_checkpoint
from common.files.events import CurveWriters
from common.runs.metrics import batch_counts
from common.runs.trainer import EpochCallback, StepByStepBase, loop_figures, validation_figures
from spec.errors import TwinspecError
from spec.schema import TrainSpec
from jax_impl.build import NAMESPACE, Model, parameter_table
from jax_impl.calls import LOSSES, clip_call, optimizer_call
from jax_impl.data import TrainingLoader, numpy_batches
from jax_impl.semantics import LOCKSTEP, SCHEDULED_LOCKSTEP

Loss = Callable[[jax.Array, jax.Array], jax.Array]  # (outputs, targets) -> the batch's mean loss


def make_loss(loss: str, mode: str = "native") -> Loss:
    """The spec's loss, a function of ``semantics``; in lockstep, torch's losses on
    probabilities where the native ones differ (``semantics.LOCKSTEP``)."""
    made = LOSSES[loss]
    return instantiate(substitute(made, LOCKSTEP) if mode == "lockstep" else made, NAMESPACE)


def infer_loss_kind(loss_fn: Loss) -> str:
    """The spec's name for a loss function: how the trainer turns outputs into classes."""
    for kind, made in LOSSES.items():
        if loss_fn in (resolve(made, NAMESPACE), resolve(substitute(made, LOCKSTEP), NAMESPACE)):
            return kind
    known = ", ".join(sorted({*LOSSES.values(), *(substitute(made, LOCKSTEP) for made in LOSSES.values())}))
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    raise TwinspecError(f"cannot tell what {name} expects: use one of {known}, or pass loss_kind")


def make_optimizer(model: Model, train: TrainSpec, mode: str = "native") -> nnx.Optimizer:
    """``nnx.Optimizer`` over the model's trainable ``nnx.Param``s (not a frozen layer's) with
    the spec's Optax transformation. Optax computes torch's SGD and Adam; in lockstep under a
    scheduler, torch's order for RMSprop's momentum (``semantics.torch_rmsprop``)."""
    made = optimizer_call(train, getattr(model, "frozen", ()))
    if mode == "lockstep" and train.scheduler is not None:
        made = substitute(made, SCHEDULED_LOCKSTEP)
    return instantiate(made, {**NAMESPACE, "model": model})


class StepByStep(StepByStepBase):
    """The book's trainer in JAX: ``set_seed`` at the start, a compiled step per batch."""

    column = "jax"
    parameters_title = "jax: nnx.state(model, nnx.Param)"
    infer_loss_kind = staticmethod(infer_loss_kind)

    def __init__(self, model: Model, loss_fn: Loss, optimizer: nnx.Optimizer, loss_kind: str | None = None) -> None:
        super().__init__(model, loss_fn, optimizer, loss_kind)
        self._curves = CurveWriters()
        self.clipping: optax.GradientTransformation | None = None  # calls.CLIPS: stateless
        graphdef, _ = nnx.split((model, optimizer))
        self._train_step = jax.jit(self._step(graphdef))
        self._forward = jax.jit(self._eval_mode(graphdef))
        self._eval_step = jax.jit(self._evaluation(self._forward))

    @classmethod
    def from_spec(cls, model: Model, train: TrainSpec, mode: str = "native") -> StepByStep:
        trainer = cls(model, make_loss(train.loss, mode), make_optimizer(model, train, mode), train.loss)
        return trainer._configured(train)

    # -- the compiled steps --------------------------------------------------------------

    def _step(self, graphdef: nnx.GraphDef) -> Callable:
        """One training step on the split state: the loss and its gradients with respect to
        the model's parameters (``nnx.value_and_grad``), clipped if asked, then the optimizer's
        update. ``masks``: the plan's dropout masks (lockstep); ``rates``: the injected
        hyperparameters a batch scheduler sets for the step (traced once, as arrays)."""
        loss_fn, clipping = self.loss_fn, self.clipping

        def train_step(
            state: nnx.State, x: jax.Array, y: jax.Array, masks: tuple, rates: dict
        ) -> tuple[jax.Array, nnx.State]:
            model, optimizer = nnx.merge(graphdef, state)
            for name, value in rates.items():  # a batch scheduler's rate and momentum for this step
                _hyperparams(optimizer)[name][...] = value
            loss, grads = nnx.value_and_grad(lambda model: loss_fn(model(x, masks), y))(model)
            if clipping is not None:
                grads, _ = clipping.update(grads, clipping.init(grads))
            optimizer.update(model, grads)
            return loss, nnx.state((model, optimizer))

        return train_step

    @staticmethod
    def _eval_mode(graphdef: nnx.GraphDef) -> Callable:
        """The model's outputs in eval mode (dropout off, batchnorm's running statistics)."""

        def forward(state: nnx.State, x: jax.Array) -> jax.Array:
            model, _ = nnx.merge(graphdef, state)
            model.eval()
            return model(x)

        return forward

    def _evaluation(self, forward: Callable) -> Callable:
        loss_fn = self.loss_fn

        def eval_step(state: nnx.State, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
            yhat = forward(state, x)
            return loss_fn(yhat, y), yhat

        return eval_step

    # -- training ----------------------------------------------------------------------

    def _clip_set(self) -> None:
        """Optax's clipping of the gradients, compiled into the step: compiled again."""
        self.clipping = None if self.clip is None else instantiate(clip_call(self.clip), NAMESPACE)
        graphdef, _ = nnx.split((self.model, self.optimizer))
        self._train_step = jax.jit(self._step(graphdef))

    def _training_loader(self, loader: TrainingLoader) -> TrainingLoader:
        if not isinstance(loader, TrainingLoader):
            raise TwinspecError(f"the jax trainer takes a jax_impl.data.TrainingLoader, not {type(loader).__name__}")
        return loader

    def _seed(self, seed: int) -> None:
        """The model's ``nnx.Rngs`` stream (dropout's masks), reseeded."""
        nnx.reseed(self.model, default=seed)

    def _train(self, n_epochs: int, on_epoch: EpochCallback | None) -> None:
        for _ in range(n_epochs):
            losses = self._steps(self._scheduled(self._stepped(self.train_loader, len(self.train_loader))))
            validation = None
            if self.val_loader is not None:
                validation = validation_figures(self._validate(self.val_loader))
            self._end_epoch(float(np.mean(losses)), validation, on_epoch)

    def _steps(self, batches, scheduled: bool = True) -> list[float]:
        """The training steps over ``batches``, the state carried through the compiled step
        and put back into the model and optimizer at the end; ``scheduled``: at a batch
        scheduler's rates (the range test sets its own)."""
        state = nnx.state((self.model, self.optimizer))
        scheduled = scheduled and self.is_batch_lr_scheduler
        losses = []
        for x, y in batches:
            images, masks = x if isinstance(x, tuple) else (x, ())
            loss, state = self._train_step(state, images, y, masks, self._step_rates() if scheduled else {})
            losses.append(loss)
        nnx.update((self.model, self.optimizer), state)
        if scheduled:  # the step after the last has the scheduler's latest
            self._set_rate(self.scheduler.lr, self.scheduler.momentum)
        return [float(loss) for loss in jax.device_get(losses)]

    def _step_rates(self) -> dict[str, jax.Array]:
        """What a batch scheduler gives the next step, float32 as Optax holds it."""
        rates = {"learning_rate": self.scheduler.lr}
        if self.scheduler.momentum is not None:
            rates["momentum"] = self.scheduler.momentum
        return {name: jnp.float32(value) for name, value in rates.items()}

    def _validate(self, loader) -> list[tuple[float, np.ndarray]]:
        state = nnx.state((self.model, self.optimizer))
        steps = [(self._eval_step(state, x, y), y) for x, y in loader]
        return [(float(loss), batch_counts(np.asarray(yhat), y, self.loss_kind)) for (loss, yhat), y in steps]

    def _log(self, epoch: int, scalars: list[tuple[str, str, float]]) -> None:
        """TensorBoard's curves, without its writer, which would load TensorFlow."""
        self._curves.write(self.log_dir, epoch, scalars)

    def _close_log(self) -> None:
        self._curves.close()  # as torch's trainer closes its writer

    def evaluate(self, loader) -> tuple[float, np.ndarray]:
        return loop_figures(self._validate(loader))

    # -- prediction and metrics ----------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode outputs; with hooks attached, layer by layer, keeping the hooked outputs
        (Flax has no forward hooks: the loop over the layers is ours)."""
        x = jnp.asarray(x, jnp.float32)
        if not self.handles:
            state = nnx.state((self.model, self.optimizer))
            return np.asarray(self._forward(state, x))
        self.visualized_inputs = _canonical(np.asarray(x), self.model.input_format == "NHWC")
        self.model.eval()
        try:
            for layer in self.model.layers:
                x = self.model.apply(layer, x)
                if layer.name in self.handles:
                    self.visualization[layer.name] = _canonical(np.asarray(x), True)
        finally:
            self.model.train()
        return np.asarray(x)

    _numpy_batches = staticmethod(numpy_batches)

    def _parameter_rows(self) -> list[tuple[str, str, tuple[int, ...], int]]:
        return parameter_table(self.model)

    # -- checkpoints ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """The model's state (parameters, batch statistics, dropout's generator) and the
        optimizer's, as numpy arrays in ``nnx.state``'s order, and the loader's position."""
        state = {key: [_numpy(leaf) for leaf in jax.tree.leaves(nnx.state(owner))] for key, owner in self._owners()}
        state["pipeline"] = self.train_loader.state() if self.train_loader is not None else {}
        return state

    def _owners(self) -> list[tuple[str, nnx.Module]]:
        return [("model", self.model), ("optimizer", self.optimizer)]

    def _restore(self, state: dict[str, Any]) -> None:
        for key, owner in self._owners():
            leaves, tree = jax.tree.flatten(nnx.state(owner))
            restored = [_like(value, leaf) for value, leaf in zip(state[key], leaves, strict=True)]
            nnx.update(owner, jax.tree.unflatten(tree, restored))
        if self.train_loader is not None:
            self.train_loader.restore(state["pipeline"])

    def _write_checkpoint(self, filename: Path, history: dict, state: dict[str, Any]) -> None:
        arrays = {f"pipeline/{key}": value for key, value in state["pipeline"].items()}
        for key, _ in self._owners():
            arrays |= numbered(key, state[key])
        write_checkpoint(filename, history, arrays)

    def _read_checkpoint(self, filename: Path) -> tuple[dict, dict[str, Any]]:
        history, arrays = read_checkpoint(filename)
        current = self._state()
        expected = {key: [(v.shape, v.dtype) for v in current[key]] for key, _ in self._owners()}
        check_fit(filename, arrays, expected, current["pipeline"] if self.train_loader is not None else None)
        state: dict[str, Any] = {key: in_order(arrays, key) for key, _ in self._owners()}
        state["pipeline"] = group(arrays, "pipeline") if self.train_loader is not None else {}
        return history, state

    # -- figures -------------------------------------------------------------------------

    def _spec_layers(self) -> dict:
        return {layer.name: layer for layer in self.model.layers if layer.name != "nchw_to_nhwc"}

    def _kernels(self, layer: str) -> np.ndarray:
        """A conv layer's kernels, turned from Flax's ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``."""
        self._layer(layer)
        convs = [
            found.name for found in self.model.layers if isinstance(getattr(self.model, found.name, None), nnx.Conv)
        ]
        if layer not in convs:
            raise TwinspecError(f"layer '{layer}' is not a conv2d layer (conv2d layers: {', '.join(convs) or 'none'})")
        return np.asarray(getattr(self.model, layer).kernel[...]).transpose(3, 2, 0, 1)

    # -- learning-rate range test --------------------------------------------------------

    def _learning_rate(self) -> float:
        return float(_hyperparams(self.optimizer)["learning_rate"][...])

    def _set_rate(self, lr: float, momentum: float | None = None) -> None:
        _hyperparams(self.optimizer)["learning_rate"][...] = jnp.float32(lr)
        if momentum is not None:
            _hyperparams(self.optimizer)["momentum"][...] = jnp.float32(momentum)

    def _steps_per_epoch(self) -> int:
        return len(self.train_loader)

    def _range_step(self, x: np.ndarray | tuple, y: np.ndarray, lr: float) -> float:
        self._set_rate(lr)
        return self._steps([(x, y)], scheduled=False)[0]


def _hyperparams(optimizer: nnx.Optimizer) -> dict:
    """The injected hyperparameters: the optimizer's state, or its last link's where weight
    decay comes first in a chain (``optax.chain``'s state is a tuple)."""
    state = optimizer.opt_state
    return (state if hasattr(state, "hyperparams") else state[-1]).hyperparams


def _numpy(leaf: jax.Array) -> np.ndarray:
    """A state's leaf as numpy: a PRNG key as its raw data."""
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.array(leaf)


def _like(value: np.ndarray, leaf: jax.Array) -> jax.Array:
    """``value`` as the state's ``leaf`` holds it: a PRNG key wrapped again."""
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(leaf))
    return jnp.asarray(value, leaf.dtype)


def _canonical(maps: np.ndarray, channels_last: bool) -> np.ndarray:
    """Feature maps as ``(N, C, H, W)``, as torch has them."""
    return maps.transpose(0, 3, 1, 2) if maps.ndim == 4 and channels_last else maps
