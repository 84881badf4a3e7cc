"""The spec language in TensorFlow without Keras: every layer kind as the ``tf.Variable``s it
owns and the ``tf`` ops it computes, every loss and optimizer as the function or class
that ``semantics.py`` writes in ``tf`` ops.

A model is a ``tf.Module`` whose ``__init__`` runs each layer's variable statements and
whose ``__call__`` runs its op statements, ``x = op(x, ...)``, as the course's slides write
one. ``build.py`` runs these statements (``common.calls.execute``) and ``listing.py``
prints them as that class: a listing shows the very variables and ops of its column's
model. Nothing here imports TensorFlow: the names (``tf``, ``math``, ``rng`` and the helpers
of ``semantics.py``) are resolved by ``build.NAMESPACE``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from common.calls import MINUS_INFINITY, Assign, Call, Name, Source, call, tensor_values
from spec.layers import fan_in, pair, set_weights
from spec.schema import Drawn, LayerSpec, ModelSpec, TrainSpec, drawn_init

X = Name("x")
# tf.Module's own attributes: a layer module of that name would shadow one (``_attribute``).
MODULE_ATTRIBUTES = {"name", "name_scope", "non_trainable_variables", "submodules", "trainable_variables", "variables"}


class Options(NamedTuple):
    """What every layer's statements need besides its spec."""

    init: str | Drawn  # torch or keras: which default initial weights; or every weight drawn
    data_format: str  # NHWC or NCHW: how the feature maps lie


class Layer(NamedTuple):
    """A spec layer's statements: those that make its variables (``__init__``), and those
    that compute its output from ``x`` (``__call__``)."""

    name: str
    variables: list[Assign]
    ops: list[Assign]


def attribute(name: str) -> str:
    """A layer module's attribute: its name, unless ``tf.Module`` has that one."""
    return f"{name}_layer" if name in MODULE_ATTRIBUTES else name


def _format(options: Options) -> dict:
    """``data_format`` where it is not TensorFlow's default, NHWC."""
    return {"data_format": options.data_format} if options.data_format != "NHWC" else {}


def _spatial_axes(options: Options) -> tuple[int, int]:
    return (2, 3) if options.data_format == "NCHW" else (1, 2)


def _initial(layer: LayerSpec, options: Options, shape: list[int]) -> list[Assign]:
    """A kernel of ``shape``, then a bias if the layer has one (``shape[-1]`` units), drawn
    from ``rng`` in that order. ``torch``: both uniform within 1/sqrt(fan_in)
    (kaiming-uniform with a = sqrt 5); ``keras``: glorot-uniform and zeros; a distribution
    (the layer's or the model's): the kernel drawn from it, the bias zeros."""
    fan, units = fan_in(layer.kind, layer.in_shape, layer.params), shape[-1]
    weights = set_weights(layer)
    if weights is not None:  # set by hand, in torch's layout, turned to TensorFlow's; biases from 0
        axes = [[2, 3, 1, 0]] if layer.kind == "conv2d" else []  # (out, in, kh, kw) -> HWIO; (out, in) -> (in, out)
        kernel = call("tf.transpose", call("tf.constant", tensor_values(weights)), *axes)
        made = [_variable(layer, "kernel", kernel)]
        return [*made, _variable(layer, "bias", call("tf.zeros", [units]))] if layer.params["bias"] else made
    drawn = drawn_init(layer, options.init)
    if drawn is not None:  # from the spec's distribution, biases from 0
        if drawn.kind == "normal":
            kernel = call("rng.normal", shape, stddev=drawn.std)
        else:
            kernel = call("rng.uniform", shape, drawn.a, drawn.b)
        made = [_variable(layer, "kernel", kernel)]
        return [*made, _variable(layer, "bias", call("tf.zeros", [units]))] if layer.params["bias"] else made
    if options.init == "torch":
        bound = Assign("bound", Source(f"1 / math.sqrt({fan})", 1 / math.sqrt(fan)), f"{layer.name}: torch's default")
        bias = call("rng.uniform", [units], Source("-bound", -bound.value.value), Name("bound"))
    else:
        fan_out = units * math.prod(shape[:-2])  # units times the window
        value = math.sqrt(6 / (fan + fan_out))
        bound = Assign("bound", Source(f"math.sqrt(6 / ({fan} + {fan_out}))", value), f"{layer.name}: glorot-uniform")
        bias = call("tf.zeros", [units])
    kernel = call("rng.uniform", shape, Source("-bound", -bound.value.value), Name("bound"))
    made = [bound, _variable(layer, "kernel", kernel)]
    return [*made, _variable(layer, "bias", bias)] if layer.params["bias"] else made


def _variable(layer: LayerSpec, key: str, value: object) -> Assign:
    """A layer's variable; a frozen layer's, ``trainable=False``: not among the model's
    ``trainable_variables``, so neither differentiated nor updated."""
    frozen = {} if layer.trainable else {"trainable": False}
    return Assign(f"self.{layer.name}_{key}", call("tf.Variable", value, name=f"{layer.name}/{key}", **frozen))


def _fused(layer: LayerSpec) -> list[Assign]:
    """A fused ``activation`` (Keras' ``activation=``), applied after the bias."""
    if layer.activation is None:
        return []
    return [Assign("x", call(FUSED[layer.activation], X), f"{layer.name}'s activation")]


FUSED = {"relu": "tf.nn.relu", "softmax": "tf.nn.softmax"}


def _conv2d(layer: LayerSpec, options: Options) -> Layer:
    """``tf.nn.conv2d`` plus bias: torch's padding in pixels as TensorFlow's explicit padding,
    or, in torch's other padding modes, ``semantics.pad2d`` first. TensorFlow's CPU kernels
    have no gradient for a dilated ``conv2d``, so a dilated convolution is
    ``tf.nn.convolution`` (which runs it on space-to-batch), padded first; and none for a
    grouped one, so that is ``semantics.grouped_conv2d``, a convolution per group."""
    p, name = layer.params, layer.name
    padding, ops = p["padding"], []
    dilated, grouped = p["dilation"] != 1, p["groups"] != 1
    if padding in ("valid", 0):
        padding = "VALID"
    elif padding == "same":
        padding = "SAME"
    elif p["padding_mode"] != "zeros" or dilated or grouped:
        axes = (_spatial_axes(options),) if options.data_format == "NCHW" else ()
        ops.append(Assign("x", call("pad2d", X, padding, p["padding_mode"], *axes), f"{name}'s padding"))
        padding = "VALID"
    else:
        spatial = dict(zip(_spatial_axes(options), pair(padding)))
        padding = [[spatial[axis], spatial[axis]] if axis in spatial else [0, 0] for axis in range(4)]
    shape = [*pair(p["kernel"]), layer.in_shape[0] // p["groups"], p["filters"]]
    kernel, dilations = Name(f"self.{name}_kernel"), {"dilations": p["dilation"]} if dilated else {}
    if grouped:
        conv = call("grouped_conv2d", X, kernel, p["groups"], p["stride"], padding, **dilations, **_format(options))
    else:
        path = "tf.nn.convolution" if dilated else "tf.nn.conv2d"
        conv = call(path, X, kernel, p["stride"], padding, **dilations, **_format(options))
    ops.append(Assign("x", conv, name))
    if p["bias"]:
        ops.append(Assign("x", call("tf.nn.bias_add", X, Name(f"self.{name}_bias"), **_format(options))))
    return Layer(name, _initial(layer, options, shape), [*ops, *_fused(layer)])


def _linear(layer: LayerSpec, options: Options) -> Layer:
    name = layer.name
    ops = [Assign("x", call("tf.matmul", X, Name(f"self.{name}_kernel")), name)]
    if layer.params["bias"]:
        ops.append(Assign("x", call("tf.nn.bias_add", X, Name(f"self.{name}_bias"))))
    return Layer(name, _initial(layer, options, [layer.in_shape[0], layer.params["units"]]), [*ops, *_fused(layer)])


def _pool2d(path: str, layer: LayerSpec, options: Options) -> Layer:
    """``same`` is TensorFlow's; torch's padding in pixels is ``semantics.pad2d`` first: zeros
    that an average counts, as torch's does, or ``-inf`` that a maximum passes by."""
    kernel, stride, padding = layer.params["kernel"], layer.params["stride"], layer.params["padding"]
    if padding in (0, "valid", "same"):
        return _op(layer, call(path, X, kernel, stride, "SAME" if padding == "same" else "VALID", **_format(options)))
    axes = (_spatial_axes(options),) if options.data_format == "NCHW" else ()
    fill = {"value": MINUS_INFINITY} if path == "tf.nn.max_pool2d" else {}
    padded = call("pad2d", X, padding, "constant" if fill else "zeros", *axes, **fill)
    pooled = call(path, X, kernel, stride, "VALID", **_format(options))
    return Layer(layer.name, [], [Assign("x", padded, f"{layer.name}'s padding"), Assign("x", pooled, layer.name)])


def _pad2d(layer: LayerSpec, options: Options) -> Layer:
    """torch's padding modes (``semantics.pad2d``)."""
    axes = (_spatial_axes(options),) if options.data_format == "NCHW" else ()
    value = {"value": layer.params["value"]} if layer.params["mode"] == "constant" else {}
    return _op(layer, call("pad2d", X, layer.params["padding"], layer.params["mode"], *axes, **value))


def _batchnorm(layer: LayerSpec, options: Options) -> Layer:
    """A ``BatchNorm`` module (``semantics``) with its moving statistics, per channel (all
    axes but the channels') or per feature."""
    if len(layer.in_shape) == 1:
        axes, shape = [0], [-1]
    elif options.data_format == "NCHW":
        axes, shape = [0, 2, 3], [-1, 1, 1]
    else:
        axes, shape = [0, 1, 2], [-1]
    p, module = layer.params, attribute(layer.name)
    kwargs = {"shape": shape} if shape != [-1] else {}
    made = call("BatchNorm", layer.in_shape[0], axes, p["momentum"], p["eps"], **kwargs, name=layer.name)
    return Layer(
        layer.name, [Assign(f"self.{module}", made)], [Assign("x", call(f"self.{module}", X, Name("training")))]
    )


def _flatten(layer: LayerSpec, options: Options) -> Layer:
    """Features in H, W, C order in both data formats (torch's are C, H, W: ``weights`` reorders)."""
    size = math.prod(layer.in_shape)
    maps = X if options.data_format != "NCHW" or len(layer.in_shape) != 3 else call("tf.transpose", X, [0, 2, 3, 1])
    return _op(layer, call("tf.reshape", maps, [-1, size]), f"{layer.name}: H, W, C")


def _dropout(layer: LayerSpec, options: Options) -> Layer:
    """``tf.nn.dropout``'s stateless form, its seeds drawn from the model's ``rng``: a run is
    reproducible from the seed, and a checkpoint can save where the masks stand."""
    seed = call("tf.squeeze", call("self.rng.make_seeds", 1), axis=1)
    dropped = call("tf.nn.experimental.stateless_dropout", X, layer.params["p"], seed=seed, name=layer.name)
    return Layer(layer.name, [], [Assign("x", dropped, layer.name, when="training")])


def _prelu(layer: LayerSpec, options: Options) -> Layer:
    """torch's PReLU: one learned slope for all features (``semantics.prelu``)."""
    alpha = _variable(layer, "alpha", [float(layer.params["init"])])
    return Layer(layer.name, [alpha], [Assign("x", call("prelu", X, Name(f"self.{layer.name}_alpha")), layer.name)])


def _op(layer: LayerSpec, value: Call, comment: str | None = None) -> Layer:
    return Layer(layer.name, [], [Assign("x", value, comment or layer.name)])


def _function(path: str) -> Callable[[LayerSpec, Options], Layer]:
    return lambda layer, options: _op(layer, call(path, X))


LAYERS: dict[str, Callable[[LayerSpec, Options], Layer]] = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer, options: _pool2d("tf.nn.max_pool2d", layer, options),
    "avgpool2d": lambda layer, options: _pool2d("tf.nn.avg_pool2d", layer, options),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": _flatten,
    "linear": _linear,
    "dropout": _dropout,
    "relu": _function("tf.nn.relu"),
    "leaky_relu": lambda layer, options: _op(layer, call("tf.nn.leaky_relu", X, alpha=layer.params["slope"])),
    "prelu": _prelu,
    "tanh": _function("tf.tanh"),
    "sigmoid": _function("tf.sigmoid"),
    "softmax": _function("tf.nn.softmax"),
    "log_softmax": _function("tf.nn.log_softmax"),
}


def model_layers(model: ModelSpec, input_format: str, options: Options) -> list[Layer]:
    """The model's layers in order: with inputs in NCHW and feature maps in NHWC (``build``),
    a transpose first, ``nchw_to_nhwc``."""
    first = []
    if input_format != options.data_format:
        first.append(Layer("nchw_to_nhwc", [], [Assign("x", call("tf.transpose", X, [0, 2, 3, 1]), "nchw_to_nhwc")]))
    return [*first, *(LAYERS[layer.kind](layer, options) for layer in model.layers)]


LOSSES: dict[str, Name] = {  # the functions of semantics.py, printed where used
    "bce": Name("bce"),
    "bce_logits": Name("bce_logits"),
    "cross_entropy": Name("cross_entropy"),
    "cross_entropy_probs": Name("cross_entropy_probs"),
    "nll": Name("nll_loss"),
}


def _sgd(p: dict, variables: Name) -> Call:
    kwargs: dict = {"momentum": p["momentum"]} if p["momentum"] else {}
    if p["nesterov"]:
        kwargs["nesterov"] = True
    return call("SGD", variables, p["lr"], **kwargs, **_decay(p, 0.0))


def _adam(p: dict, variables: Name, path: str = "Adam", decay: float = 0.0) -> Call:
    beta_1, beta_2 = p["betas"]
    kwargs = {
        key: value for key, value, default in [("beta_1", beta_1, 0.9), ("beta_2", beta_2, 0.999)] if value != default
    }
    if p["eps"] != 1e-8:
        kwargs["epsilon"] = p["eps"]
    return call(path, variables, p["lr"], **kwargs, **_decay(p, decay))


def _rmsprop(p: dict, variables: Name) -> Call:
    named = (("rho", p["alpha"], 0.99), ("epsilon", p["eps"], 1e-8), ("momentum", p["momentum"], 0.0))
    kwargs = {key: value for key, value, default in named if value != default}
    return call("RMSprop", variables, p["lr"], **kwargs, **_decay(p, 0.0))


def _decay(p: dict, default: float) -> dict:
    return {"weight_decay": p["weight_decay"]} if p["weight_decay"] != default else {}


OPTIMIZERS: dict[str, Callable[[dict, Name], Call]] = {
    "sgd": _sgd,
    "adam": _adam,
    "adamw": lambda p, variables: _adam(p, variables, "AdamW", 1e-2),
    "rmsprop": _rmsprop,
}


def optimizer_call(train: TrainSpec) -> Call:
    """The spec's optimizer (``semantics.SGD``, ``Adam``, ``AdamW`` or ``RMSprop``, written as
    torch computes them) over the model's trainable variables, with what differs from the defaults."""
    return OPTIMIZERS[train.optimizer](train.optimizer_params, Name("model.trainable_variables"))


# torch's clip_grad_value_ and clip_grad_norm_ as a TensorFlow step writes them, between the
# tape's gradients and apply_gradients ({t}: the threshold). listing.py prints these lines;
# train.py's step computes the same (the listing test runs both).
CLIPS = {
    "value": "gradients = [tf.clip_by_value(g, -{t}, {t}) for g in gradients]",
    "norm": "gradients, _ = tf.clip_by_global_norm(gradients, {t})",
}
