"""Spec -> an ``nnx.Module`` that owns the spec's layers as Flax modules and applies them in
``__call__``, made by running the statements of ``calls.py``, the very statements the
listing prints.

Each layer's module is ``self.<layer>`` (``self.conv1``, an ``nnx.Conv``); Flax's kernels
are ``(kh, kw, in, out)`` for a convolution and ``(in, out)`` for a dense layer, and its
feature maps channels-last: an ``nchw`` model transposes its input once.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from common.calls import execute, instantiate, names, substitute
from jax_impl import calls, semantics
from jax_impl.calls import ADJUSTABLE, Layer, Options, model_layers
from spec.schema import ModelSpec

# What the statements' names mean: Flax NNX, jax.numpy, Optax, and the helpers of semantics.py.
NAMESPACE = {
    "nnx": nnx,
    "jnp": jnp,
    "optax": optax,
    **{name: value for name, value in vars(semantics).items() if callable(value) and not name.startswith("_")},
    **{path: optax.inject_hyperparams(getattr(optax, name)) for name, path in ADJUSTABLE.items()},
    semantics.TORCH_RMSPROP: optax.inject_hyperparams(semantics.torch_rmsprop),
}


class Model(nnx.Module):
    """The spec's layers in order, each a few statements over ``x``: the listing's class, with
    its statements held as data. ``nnx.Rngs(seed)`` draws the initial weights, then dropout's
    masks (``set_seed`` reseeds it). ``input_format`` is how its inputs lie."""

    def __init__(self, layers: tuple[Layer, ...], seed: int, input_format: str, frozen: tuple[str, ...] = ()) -> None:
        rngs = nnx.Rngs(seed)
        self.layers = nnx.static(layers)
        self.input_format = input_format
        self.frozen = frozen  # the layers training leaves as built (calls.trainable)
        for layer in layers:
            execute(layer.modules, {**NAMESPACE, "self": self, "rngs": rngs})

    def __call__(self, x: jax.Array, masks: tuple[jax.Array, ...] = ()) -> jax.Array:
        """``masks``: the plan's, one per planned dropout in order (lockstep, in training)."""
        planned = iter(masks)
        for layer in self.layers:
            mask = next(planned, None) if "mask" in names(layer.ops) else None
            x = self.apply(layer, x, mask)
        return x

    def apply(self, layer: Layer, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """One layer's statements on ``x``."""
        namespace = {**NAMESPACE, "self": self, "x": x, "mask": mask}
        execute(layer.ops, namespace)
        return namespace["x"]


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> Model:
    """The model's ``nnx.Rngs`` seeded (this column's ``torch.manual_seed``), then each
    layer's modules made in order, drawing their initial weights. In ``lockstep`` mode the
    statements go through ``semantics.lockstep_calls``: a batchnorm keeps torch's running
    variance and a dropout applies the plan's mask."""
    layers = model_layers(model, layout, Options(model.init))
    if mode == "lockstep":
        table = semantics.lockstep_calls(model)
        layers = [Layer(layer.name, substitute(layer.modules, table), substitute(layer.ops, table)) for layer in layers]
    # Made under nnx.jit: every initial weight drawn in one compiled program, where drawing
    # them eagerly compiles each draw on its own (seconds, for a few layers).
    input_format = "NCHW" if layout == "nchw" else "NHWC"
    built = nnx.jit(Model, static_argnums=(0, 1, 2, 3))(tuple(layers), model.seed, input_format, model.frozen)
    built.train()
    return built


def _trainable(model: Model) -> nnx.filterlib.Filter:
    """The filter of the parameters training moves (``calls.trainable``): a model of one's own
    has no frozen layers."""
    return instantiate(calls.trainable(getattr(model, "frozen", ())), NAMESPACE)


def count_parameters(model: Model) -> int:
    return int(sum(math.prod(p.shape) for p in jax.tree.leaves(nnx.state(model, _trainable(model)))))


def parameter_table(model: Model) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(layer, tensor, shape, numel)`` for each trainable ``nnx.Param``, layer by layer in the
    model's order, named as ``nnx.state(model, nnx.Param)`` names them (``conv1``, ``kernel``);
    Flax's shapes (HWIO kernels, ``(in, out)`` dense)."""
    params = nnx.state(model, _trainable(model))
    rows = []
    for layer in model.layers:
        if layer.name in params:
            for tensor, value in params[layer.name].items():
                rows.append((layer.name, tensor, tuple(value.shape), math.prod(value.shape)))
    return rows
