"""The spec language in Keras 3: every layer kind, loss, metric and optimizer as the call that makes it.

``build.py`` and ``train.py`` instantiate these calls, ``listing.py`` prints them: a
listing shows the very calls that build and compile its column's model. Arguments are
written as a Keras user writes them, Keras' defaults left out. Nothing here imports Keras:
the names (``keras``, ``layers``, and the helpers of ``semantics.py``) are resolved by
``build.NAMESPACE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from common.calls import MINUS_INFINITY, Call, Listed, call, tensor_values
from spec.layers import fan_in, set_weights
from spec.schema import Drawn, LayerSpec, ModelSpec, TrainSpec, drawn_init


class Options(NamedTuple):
    """What every layer's calls need besides its spec."""

    init: str | Drawn  # torch or keras: which default initial weights; or every weight drawn
    input_format: str  # channels_first or channels_last: how the model's inputs lie
    data_format: str  # how its feature maps lie (channels_last after a permute at the input)


def _common(name: str, options: Options, **kwargs) -> dict:
    """``data_format`` where it is not Keras' default, then the layer's name."""
    if options.data_format != "channels_last":
        kwargs["data_format"] = options.data_format
    return {**kwargs, "name": name}


def _inits(layer: LayerSpec, options: Options) -> dict:
    """A kernel drawn from a distribution, Keras' ``RandomNormal`` or ``RandomUniform`` (biases
    start at zero, Keras' default); ``**torch_init(fan_in=...)`` (``semantics.torch_init``)
    for ``init: torch``: torch's default initial weights as Keras initializers; Keras' own
    need nothing, nor set weights."""
    drawn = drawn_init(layer, options.init)
    if drawn is not None:
        if drawn.kind == "normal":
            return {"kernel_initializer": call("keras.initializers.RandomNormal", stddev=drawn.std)}
        return {"kernel_initializer": call("keras.initializers.RandomUniform", minval=drawn.a, maxval=drawn.b)}
    if options.init != "torch" or layer.params["weights"] is not None:
        return {}
    return {"spread": call("torch_init", fan_in=fan_in(layer.kind, layer.in_shape, layer.params))}


def _set_or_frozen(layer: LayerSpec) -> dict:
    """Weights set by hand, a ``Constant`` kernel turned from torch's layout to Keras' (biases
    start at zero, Keras' default); a frozen layer, ``trainable=False``."""
    kwargs: dict = {}
    weights = set_weights(layer)
    if weights is not None:
        axes = [(2, 3, 1, 0)] if layer.kind == "conv2d" else []  # (out, in, kh, kw) -> HWIO; (out, in) -> (in, out)
        kwargs["kernel_initializer"] = call(
            "keras.initializers.Constant", call("np.transpose", tensor_values(weights), *axes)
        )
    if not layer.trainable:
        kwargs["trainable"] = False
    return kwargs


def _conv2d(layer: LayerSpec, options: Options) -> list[Call]:
    """torch pads by a number of pixels, Keras only valid or same: a ``ZeroPadding2D`` in front
    (or ``semantics.Pad2D`` for torch's other padding modes)."""
    p = layer.params
    made = []
    if p["padding"] not in (0, "valid", "same"):
        name = f"{layer.name}_pad"
        if p["padding_mode"] == "zeros":
            made.append(call("layers.ZeroPadding2D", p["padding"], **_common(name, options)))
        else:
            made.append(call("Pad2D", p["padding"], p["padding_mode"], options.data_format, name=name))
    kwargs: dict = {"kernel_size": p["kernel"]}
    if p["stride"] != 1:
        kwargs["strides"] = p["stride"]
    if p["padding"] == "same":
        kwargs["padding"] = "same"
    if p["dilation"] != 1:
        kwargs["dilation_rate"] = p["dilation"]
    if p["groups"] != 1:
        kwargs["groups"] = p["groups"]
    if not p["bias"]:
        kwargs["use_bias"] = False
    if layer.activation is not None:
        kwargs["activation"] = layer.activation
    kwargs.update(_set_or_frozen(layer))
    made.append(call("layers.Conv2D", p["filters"], **_common(layer.name, options, **kwargs), **_inits(layer, options)))
    return made


def _pool2d(path: str, layer: LayerSpec, options: Options) -> list[Call]:
    """Keras pools over valid or same windows (same: TensorFlow's, as the spec means it);
    torch's padding in pixels is a layer in front, ``<name>_pad``: zeros that an average
    counts, as torch's does, or ``-inf`` (``semantics.Pad2D``) that a maximum passes by."""
    kernel, stride, padding = layer.params["kernel"], layer.params["stride"], layer.params["padding"]
    kwargs: dict = {"strides": stride} if stride != kernel else {}
    made = []
    if padding == "same":
        kwargs["padding"] = "same"
    elif padding not in (0, "valid"):
        name = f"{layer.name}_pad"
        if path == "layers.AveragePooling2D":
            made.append(call("layers.ZeroPadding2D", padding, **_common(name, options)))
        else:
            made.append(call("Pad2D", padding, "constant", options.data_format, value=MINUS_INFINITY, name=name))
    return [*made, call(path, pool_size=kernel, **_common(layer.name, options, **kwargs))]


def _pad2d(layer: LayerSpec, options: Options) -> Call:
    """Zeros as Keras pads; torch's other modes with ``semantics.Pad2D``, which Keras lacks."""
    padding, mode = layer.params["padding"], layer.params["mode"]
    if mode == "zeros":
        return call("layers.ZeroPadding2D", padding, **_common(layer.name, options))
    value = {"value": layer.params["value"]} if mode == "constant" else {}
    return call("Pad2D", padding, mode, options.data_format, **value, name=layer.name)


def _batchnorm(layer: LayerSpec, options: Options) -> Call:
    """torch's momentum weighs the new statistic, Keras' the old one: 1 - m; both always said,
    for Keras' defaults (0.99, 1e-3) are not torch's. The channels' axis where it is not the last."""
    p = layer.params
    kwargs: dict = {}
    if len(layer.in_shape) == 3 and options.data_format == "channels_first":
        kwargs["axis"] = 1
    kwargs |= {"momentum": round(1 - p["momentum"], 12), "epsilon": p["eps"], "name": layer.name}
    return call("layers.BatchNormalization", **kwargs)


def _linear(layer: LayerSpec, options: Options) -> Call:
    kwargs: dict = {} if layer.params["bias"] else {"use_bias": False}
    if layer.activation is not None:
        kwargs["activation"] = layer.activation
    kwargs.update(_set_or_frozen(layer))
    return call("layers.Dense", layer.params["units"], **kwargs, name=layer.name, **_inits(layer, options))


def _prelu(layer: LayerSpec, options: Options) -> Call:
    """torch's PReLU: one slope for all features, shared across every axis."""
    alpha = call("keras.initializers.Constant", layer.params["init"])
    shared = list(range(1, len(layer.in_shape) + 1))
    return call("layers.PReLU", alpha_initializer=alpha, shared_axes=shared, name=layer.name)


def _named(path: str, *args) -> Callable[[LayerSpec, Options], Call]:
    return lambda layer, options: call(path, *args, name=layer.name)


LAYERS: dict[str, Callable[[LayerSpec, Options], Call | list[Call]]] = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer, options: _pool2d("layers.MaxPooling2D", layer, options),
    "avgpool2d": lambda layer, options: _pool2d("layers.AveragePooling2D", layer, options),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": lambda layer, options: call("layers.Flatten", **_common(layer.name, options)),
    "linear": _linear,
    "dropout": lambda layer, options: call("layers.Dropout", rate=layer.params["p"], name=layer.name),
    "relu": _named("layers.ReLU"),
    "leaky_relu": lambda layer, options: call(
        "layers.LeakyReLU", negative_slope=layer.params["slope"], name=layer.name
    ),
    "prelu": _prelu,
    "tanh": _named("layers.Activation", "tanh"),
    "sigmoid": _named("layers.Activation", "sigmoid"),
    "softmax": _named("layers.Softmax"),
    "log_softmax": _named("layers.Activation", "log_softmax"),
}


def layer_calls(layer: LayerSpec, options: Options) -> list[Call]:
    """The Keras layers a spec layer becomes (a conv or a pool padded in pixels: two)."""
    made = LAYERS[layer.kind](layer, options)
    return made if isinstance(made, list) else [made]


def model_call(model: ModelSpec, options: Options) -> Call:
    """``keras.Sequential([keras.Input(shape), *layers])``, the input in
    ``options.input_format``, permuted to channels-last first where the feature maps lie so."""
    channels, height, width = model.layers[0].in_shape
    shape = (channels, height, width) if options.input_format == "channels_first" else (height, width, channels)
    stack = [call("keras.Input", shape=shape)]
    if options.input_format != options.data_format:
        stack.append(call("layers.Permute", (2, 3, 1), name="nchw_to_nhwc"))
    for layer in model.layers:
        stack += layer_calls(layer, options)
    return call("keras.Sequential", Listed(stack))


LOSSES: dict[str, Call] = {
    "bce": call("keras.losses.BinaryCrossentropy"),
    "bce_logits": call("keras.losses.BinaryCrossentropy", from_logits=True),
    "cross_entropy": call("keras.losses.SparseCategoricalCrossentropy", from_logits=True),
    "cross_entropy_probs": call("keras.losses.SparseCategoricalCrossentropy"),
    "nll": call("NLLLoss"),  # Keras lacks it: semantics.NLLLoss, printed where used
}

# What compile measures as "accuracy": Keras picks binary or sparse categorical by the loss,
# but its binary accuracy takes probabilities (a 0.5 threshold): logits need 0.
METRICS: dict[str, object] = {
    "bce": "accuracy",
    "bce_logits": call("keras.metrics.BinaryAccuracy", name="accuracy", threshold=0.0),
    "cross_entropy": "accuracy",
    "cross_entropy_probs": "accuracy",
    "nll": "accuracy",
}


def _sgd(p: dict) -> Call:
    kwargs: dict = {"learning_rate": p["lr"]}
    if p["momentum"]:
        kwargs["momentum"] = p["momentum"]
    if p["nesterov"]:
        kwargs["nesterov"] = True
    return _with_l2("keras.optimizers.SGD", "SGDWithL2", p, kwargs)


def _adam(p: dict, name: str = "adam") -> Call:
    """Keras' Adam defaults: beta_1 0.9, beta_2 0.999 and epsilon 1e-7 (torch's eps is 1e-8).
    AdamW's decay is Keras' own ``weight_decay`` (decoupled, as torch's); its default is
    0.004 (torch's 0.01)."""
    kwargs: dict = {"learning_rate": p["lr"]}
    beta_1, beta_2 = p["betas"]
    if beta_1 != 0.9:
        kwargs["beta_1"] = beta_1
    if beta_2 != 0.999:
        kwargs["beta_2"] = beta_2
    if p["eps"] != 1e-7:
        kwargs["epsilon"] = p["eps"]
    if name == "adamw":
        return call("keras.optimizers.AdamW", **kwargs, weight_decay=p["weight_decay"])
    return _with_l2("keras.optimizers.Adam", "AdamWithL2", p, kwargs)


def _rmsprop(p: dict) -> Call:
    """Keras' RMSprop: ``rho`` is torch's ``alpha`` (0.9 by default, torch's 0.99), epsilon
    1e-7 (torch's 1e-8), added inside the root (torch adds it outside)."""
    named = (("rho", p["alpha"], 0.9), ("momentum", p["momentum"], 0.0), ("epsilon", p["eps"], 1e-7))
    kwargs = {"learning_rate": p["lr"], **{key: value for key, value, default in named if value != default}}
    return _with_l2("keras.optimizers.RMSprop", "RMSpropWithL2", p, kwargs)


def _with_l2(path: str, decayed: str, p: dict, kwargs: dict) -> Call:
    """Keras' optimizer, or with torch's weight decay (``l2``, added to the gradient) its
    ``semantics`` class: Keras' own ``weight_decay`` is decoupled, which torch's is on AdamW only."""
    return call(decayed, **kwargs, l2=p["weight_decay"]) if p["weight_decay"] else call(path, **kwargs)


OPTIMIZERS: dict[str, Callable[[dict], Call]] = {
    "sgd": _sgd,
    "adam": _adam,
    "adamw": lambda p: _adam(p, "adamw"),
    "rmsprop": _rmsprop,
}


def optimizer_call(train: TrainSpec) -> Call:
    """The spec's optimizer, with what differs from Keras' defaults and its clipping:
    ``compile`` binds it to the model."""
    made = OPTIMIZERS[train.optimizer](train.optimizer_params)
    if train.scheduler is not None and train.scheduler.params.get("cycle_momentum"):
        made = Call("TorchSGD", made.args, made.kwargs)  # Keras' own momentum is compiled into the step
    return made.with_kwargs(**{CLIPS[train.clip.by]: train.clip.threshold}) if train.clip else made


# A Keras optimizer clips the gradients it is given, before its update, as its argument says:
# clipvalue, each one to [-value, value]; global_clipnorm, all of them together to that
# 2-norm (Keras' clipnorm clips each variable's gradient apart: not torch's clip_grad_norm_).
CLIPS = {"value": "clipvalue", "norm": "global_clipnorm"}
