"""The spec language in JAX with Flax NNX: every layer kind as the ``nnx`` module it makes and
the op that applies it, every loss as a function of ``semantics.py``, every optimizer as
the Optax transformation that ``nnx.Optimizer`` wraps.

A model is an ``nnx.Module`` whose ``__init__`` makes each layer's modules (``self.conv1 =
nnx.Conv(...)``) and whose ``__call__`` applies them, ``x = self.conv1(x)``, as the Flax
documentation's MNIST tutorial writes its ``CNN``. ``build.py`` runs these statements
(``common.calls.execute``) and ``listing.py`` prints them as that class. Feature maps are
channels-last, as Flax's layers compute them. Nothing here imports JAX: the names (``nnx``,
``jnp``, ``optax``, ``rngs`` and the helpers of ``semantics.py``) are resolved by
``build.NAMESPACE``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from common.calls import Assign, Call, Name, call, tensor_values
from spec.layers import fan_in, pair, set_weights
from spec.schema import Clip, Drawn, LayerSpec, ModelSpec, TrainSpec, drawn_init

X = Name("x")
RNGS = Name("rngs")
PADS = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap", "constant": "constant"}


class Layer(NamedTuple):
    """A spec layer's statements: those that make its modules (``__init__``), and those
    that compute its output from ``x`` (``__call__``)."""

    name: str
    modules: tuple[Assign, ...]
    ops: tuple[Assign, ...]


def _inits(layer: LayerSpec, init: str | Drawn) -> dict:
    """The spec's initial weights, said: ``torch``, torch's default (``semantics.torch_init``);
    ``keras``, glorot-uniform kernels and zero biases (Flax's own kernels are lecun-normal);
    a distribution, ``nnx.initializers.normal`` or ``semantics.uniform_init`` (Flax's
    ``uniform`` starts at 0);
    weights set by hand, a constant kernel turned from torch's layout to Flax's, biases
    from zero (Flax's default)."""
    weights = set_weights(layer)
    if weights is not None:
        axes = [(2, 3, 1, 0)] if layer.kind == "conv2d" else []  # (out, in, kh, kw) -> HWIO; (out, in) -> (in, out)
        kernel = call("jnp.transpose", call("jnp.array", tensor_values(weights)), *axes)
        return {"kernel_init": call("nnx.initializers.constant", kernel)}
    drawn = drawn_init(layer, init)
    if drawn is not None:  # Flax's biases start at zero
        if drawn.kind == "normal":
            return {"kernel_init": call("nnx.initializers.normal", drawn.std)}
        return {"kernel_init": call("uniform_init", drawn.a, drawn.b)}
    if init == "torch":
        return {"spread": call("torch_init", fan_in=fan_in(layer.kind, layer.in_shape, layer.params))}
    return {"kernel_init": call("nnx.initializers.glorot_uniform")}


def _module(layer: LayerSpec, made: Call, applied: Call | None = None) -> Layer:
    """``self.<name> = made`` and ``x = self.<name>(x)`` (or ``applied``)."""
    target = f"self.{layer.name}"
    return Layer(layer.name, (Assign(target, made),), (Assign("x", applied or call(target, X), layer.name),))


def _fused(layer: LayerSpec) -> tuple[Assign, ...]:
    """A fused ``activation`` (Keras' ``activation=``), applied after the layer."""
    if layer.activation is None:
        return ()
    return (Assign("x", call(FUSED[layer.activation], X), f"{layer.name}'s activation"),)


FUSED = {"relu": "nnx.relu", "softmax": "nnx.softmax"}


def _pad(padding, mode: str, value: float = 0.0) -> Call:
    """``jnp.pad`` over the spatial axes of an ``(N, H, W, C)`` map, in torch's ``mode``."""
    height, width = pair(padding)
    widths = ((0, 0), (height, height), (width, width), (0, 0))
    kwargs = {"mode": PADS[mode]} if mode not in ("zeros", "constant") else {}
    if mode == "constant" and value != 0:
        kwargs["constant_values"] = value
    return call("jnp.pad", X, widths, **kwargs)


def _conv2d(layer: LayerSpec, options: Options) -> Layer:
    """``nnx.Conv``: torch's padding in pixels as explicit ``(low, high)`` pairs; torch's
    other padding modes as a ``jnp.pad`` first (Flax's ``CIRCULAR`` and ``REFLECT`` pad as
    ``SAME`` does, not by a given number of pixels)."""
    p = layer.params
    padding, ops = p["padding"], []
    if padding in ("valid", 0):
        padding = "VALID"
    elif padding == "same":
        padding = "SAME"
    elif p["padding_mode"] != "zeros":
        ops.append(Assign("x", _pad(padding, p["padding_mode"]), f"{layer.name}'s padding"))
        padding = "VALID"
    else:
        padding = tuple((side, side) for side in pair(padding))
    kwargs: dict = {"kernel_size": pair(p["kernel"]), "padding": padding}
    if p["stride"] != 1:
        kwargs["strides"] = pair(p["stride"])
    if p["dilation"] != 1:
        kwargs["kernel_dilation"] = pair(p["dilation"])
    if p["groups"] != 1:
        kwargs["feature_group_count"] = p["groups"]
    if not p["bias"]:
        kwargs["use_bias"] = False
    made = call("nnx.Conv", layer.in_shape[0], p["filters"], **kwargs, **_inits(layer, options.init), rngs=RNGS)
    conv = _module(layer, made)
    return Layer(layer.name, conv.modules, (*ops, *conv.ops, *_fused(layer)))


def _linear(layer: LayerSpec, options: Options) -> Layer:
    kwargs: dict = {} if layer.params["bias"] else {"use_bias": False}
    made = call(
        "nnx.Linear", layer.in_shape[0], layer.params["units"], **kwargs, **_inits(layer, options.init), rngs=RNGS
    )
    linear = _module(layer, made)
    return Layer(layer.name, linear.modules, (*linear.ops, *_fused(layer)))


def _pool2d(path: str, layer: LayerSpec, options: Options) -> Layer:
    """``same`` is Flax's (TensorFlow's); torch's pixels, ``(low, high)`` pairs, which a
    maximum fills with ``-inf`` and an average counts as zeros, as torch's do; an average over
    a window that ``same`` pads counts only the input's values, as TensorFlow's does."""
    kernel, stride, padding = pair(layer.params["kernel"]), pair(layer.params["stride"]), layer.params["padding"]
    kwargs: dict = {}
    if padding == "same":
        kwargs["padding"] = "SAME"
        if path == "nnx.avg_pool":
            kwargs["count_include_pad"] = False
    elif padding not in (0, "valid"):
        kwargs["padding"] = tuple((side, side) for side in pair(padding))
    return _op(layer, call(path, X, window_shape=kernel, strides=stride, **kwargs))


def _pad2d(layer: LayerSpec, options: Options) -> Layer:
    """torch's padding modes are ``jnp.pad``'s: constant, reflect, edge, wrap."""
    p = layer.params
    return _op(layer, _pad(p["padding"], p["mode"], p["value"]))


def _batchnorm(layer: LayerSpec, options: Options) -> Layer:
    """``nnx.BatchNorm`` over the last axis, the channels' or the features'. Flax's momentum
    weighs the old statistic, torch's the new one: 1 - m; both always said, for Flax's
    defaults (0.99, 1e-5) are not torch's."""
    p = layer.params
    made = call("nnx.BatchNorm", layer.in_shape[0], momentum=round(1 - p["momentum"], 12), epsilon=p["eps"], rngs=RNGS)
    return _module(layer, made)


def _flatten(layer: LayerSpec, options: Options) -> Layer:
    """Features in H, W, C order (torch's are C, H, W: ``weights`` reorders)."""
    return _op(layer, call("jnp.reshape", X, (-1, math.prod(layer.in_shape))), f"{layer.name}: H, W, C")


def _dropout(layer: LayerSpec, options: Options) -> Layer:
    """``nnx.Dropout``, its masks drawn from the model's ``rngs`` stream; off in ``model.eval()``."""
    return _module(layer, call("nnx.Dropout", layer.params["p"], rngs=RNGS))


def _prelu(layer: LayerSpec, options: Options) -> Layer:
    """torch's PReLU: one learned slope for all features."""
    return _module(layer, call("nnx.PReLU", negative_slope_init=float(layer.params["init"])))


def _op(layer: LayerSpec, value: Call, comment: str | None = None) -> Layer:
    return Layer(layer.name, (), (Assign("x", value, comment or layer.name),))


def _function(path: str, **kwargs) -> Callable[[LayerSpec, Options], Layer]:
    return lambda layer, options: _op(layer, call(path, X, **kwargs))


class Options(NamedTuple):
    """What every layer's statements need besides its spec."""

    init: str | Drawn  # torch or keras: which default initial weights; or every weight drawn


LAYERS: dict[str, Callable[[LayerSpec, Options], Layer]] = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer, options: _pool2d("nnx.max_pool", layer, options),
    "avgpool2d": lambda layer, options: _pool2d("nnx.avg_pool", layer, options),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": _flatten,
    "linear": _linear,
    "dropout": _dropout,
    "relu": _function("nnx.relu"),
    "leaky_relu": lambda layer, options: _op(layer, call("nnx.leaky_relu", X, negative_slope=layer.params["slope"])),
    "prelu": _prelu,
    "tanh": _function("nnx.tanh"),
    "sigmoid": _function("nnx.sigmoid"),
    "softmax": _function("nnx.softmax"),
    "log_softmax": _function("nnx.log_softmax"),
}


def model_layers(model: ModelSpec, layout: str, options: Options) -> list[Layer]:
    """The model's layers in order: with ``nchw`` inputs, a transpose to channels-last
    first, ``nchw_to_nhwc`` (Flax's layers compute channels-last)."""
    first = []
    if layout == "nchw" and len(model.layers[0].in_shape) == 3:
        first.append(Layer("nchw_to_nhwc", (), (Assign("x", call("jnp.transpose", X, (0, 2, 3, 1)), "nchw_to_nhwc"),)))
    return [*first, *(LAYERS[layer.kind](layer, options) for layer in model.layers)]


LOSSES: dict[str, Name] = {  # the functions of semantics.py, printed where used: loss_fn(outputs, targets)
    "bce": Name("bce"),
    "bce_logits": Name("bce_logits"),
    "cross_entropy": Name("cross_entropy"),
    "cross_entropy_probs": Name("cross_entropy_probs"),
    "nll": Name("nll_loss"),
}


# Optax's transformations with their learning rate in their state, where a range test can set
# it (``optax.inject_hyperparams``); the listing writes them so, and build.NAMESPACE holds each.
ADJUSTABLE = {name: f"optax.inject_hyperparams(optax.{name})" for name in ("sgd", "adam", "adamw", "rmsprop")}


def _sgd(p: dict) -> Call:
    """Optax's ``sgd``: its momentum trace is torch's velocity, ``v = momentum * v + g``."""
    kwargs: dict = {"momentum": p["momentum"]} if p["momentum"] else {}
    if p["nesterov"]:
        kwargs["nesterov"] = True
    return _decayed(p, call(ADJUSTABLE["sgd"], learning_rate=p["lr"], **kwargs))


def _adam(p: dict, name: str = "adam") -> Call:
    """Optax's ``adam`` adds ``eps`` to the bias-corrected ``sqrt(v)``, as torch does; its
    defaults are torch's (0.9, 0.999, 1e-8)."""
    b1, b2 = p["betas"]
    kwargs = {key: value for key, value, default in [("b1", b1, 0.9), ("b2", b2, 0.999)] if value != default}
    if p["eps"] != 1e-8:
        kwargs["eps"] = p["eps"]
    if name == "adamw":  # decoupled, as torch's AdamW: Optax's default decay is 1e-4, torch's 1e-2
        return call(ADJUSTABLE["adamw"], learning_rate=p["lr"], **kwargs, weight_decay=p["weight_decay"])
    return _decayed(p, call(ADJUSTABLE["adam"], learning_rate=p["lr"], **kwargs))


def _rmsprop(p: dict) -> Call:
    """Optax's ``rmsprop`` with ``eps`` added to ``sqrt(v)``, as torch adds it
    (``eps_in_sqrt=False``); its ``decay`` is torch's ``alpha`` (Optax's default 0.9, torch's
    0.99), and its momentum traces the scaled step, which is torch's buffer times ``lr``."""
    kwargs: dict = {"decay": p["alpha"]} if p["alpha"] != 0.9 else {}
    if p["eps"] != 1e-8:
        kwargs["eps"] = p["eps"]
    kwargs["eps_in_sqrt"] = False
    if p["momentum"]:
        kwargs["momentum"] = p["momentum"]
    return _decayed(p, call(ADJUSTABLE["rmsprop"], learning_rate=p["lr"], **kwargs))


def _decayed(p: dict, tx: Call) -> Call:
    """torch's ``weight_decay`` on SGD, Adam and RMSprop: ``weight_decay * w`` joins the
    gradient before the optimizer sees it (``optax.add_decayed_weights`` first in a chain)."""
    if not p["weight_decay"]:
        return tx
    return call("optax.chain", call("optax.add_decayed_weights", p["weight_decay"]), tx)


OPTIMIZERS: dict[str, Callable[[dict], Call]] = {
    "sgd": _sgd,
    "adam": _adam,
    "adamw": lambda p: _adam(p, "adamw"),
    "rmsprop": _rmsprop,
}


def optimizer_call(train: TrainSpec, frozen: tuple[str, ...] = ()) -> Call:
    """``nnx.Optimizer(model, tx, wrt=...)``: the spec's Optax transformation over the model's
    parameters but the ``frozen`` layers', with what differs from Optax's defaults."""
    tx = OPTIMIZERS[train.optimizer](train.optimizer_params)
    return call("nnx.Optimizer", Name("model"), tx, wrt=trainable(frozen))


def trainable(frozen: tuple[str, ...]) -> Call | Name:
    """The filter of the parameters training moves: every ``nnx.Param`` but those of the
    ``frozen`` layers (Flax's way to freeze: the optimizer updates only what its ``wrt`` takes)."""
    if not frozen:
        return Name("nnx.Param")
    paths = [call("nnx.PathContains", name) for name in frozen]
    return call("nnx.All", Name("nnx.Param"), call("nnx.Not", paths[0] if len(paths) == 1 else call("nnx.Any", *paths)))


# torch's clip_grad_value_ and clip_grad_norm_ as Optax's stateless transformations, which
# the training step applies to the gradients before the optimizer's update.
CLIPS = {"value": "optax.clip", "norm": "optax.clip_by_global_norm"}


def clip_call(clip: Clip) -> Call:
    return call(CLIPS[clip.by], clip.threshold)
