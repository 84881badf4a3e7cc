"""Spec -> ``keras.Sequential`` whose layers carry the spec's layer names."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import keras
import tensorflow as tf

from keras_impl.semantics import LockstepSequential, Pad2D, PlannedDropout, TorchBatchNormalization
from spec.layers import fan_in
from spec.schema import LayerSpec, ModelSpec


class _Options(NamedTuple):
    """What every layer constructor needs besides its spec."""

    init: str  # torch or keras
    data_format: str  # channels_first or channels_last
    mode: str  # native, or lockstep: torch's semantics where Keras' differ
    model: ModelSpec  # the whole spec, for what a layer's neighbours decide (a flatten's feature order)


def _torch_init(layer: LayerSpec) -> dict:
    """torch's default init as keras initializers: kaiming-uniform(a=sqrt 5) is
    VarianceScaling(1/3, fan_in, uniform), a bound of 1/sqrt(fan_in); biases share that bound."""
    bound = 1.0 / math.sqrt(fan_in(layer.kind, layer.in_shape, layer.params))
    return {
        "kernel_initializer": keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }


def _inits(layer: LayerSpec, init: str) -> dict:
    return _torch_init(layer) if init == "torch" else {}


def _conv2d(layer: LayerSpec, options: _Options) -> list[keras.layers.Layer]:
    """torch pads by a number of pixels; keras knows only valid and same, so a number
    becomes a ZeroPadding2D in front of a valid convolution."""
    p = layer.params
    padding = p["padding"]
    layers = []
    if isinstance(padding, int) and padding > 0:
        layers.append(keras.layers.ZeroPadding2D(padding, data_format=options.data_format, name=f"{layer.name}_pad"))
    conv = keras.layers.Conv2D(
        p["filters"],
        p["kernel"],
        strides=p["stride"],
        padding="same" if padding == "same" else "valid",
        data_format=options.data_format,
        use_bias=p["bias"],
        activation=layer.activation,
        name=layer.name,
        **_inits(layer, options.init),
    )
    return [*layers, conv]


def _pad2d(layer: LayerSpec, options: _Options) -> keras.layers.Layer:
    padding, mode = layer.params["padding"], layer.params["mode"]
    if mode == "zeros":
        return keras.layers.ZeroPadding2D(padding, data_format=options.data_format, name=layer.name)
    return Pad2D(padding, mode, options.data_format, name=layer.name)


def _batchnorm(layer: LayerSpec, options: _Options) -> keras.layers.Layer:
    """torch's momentum weighs the new statistic, keras' the old one: 1 - m."""
    axis = 1 if len(layer.in_shape) == 3 and options.data_format == "channels_first" else -1
    p = layer.params
    norm = TorchBatchNormalization if options.mode == "lockstep" else keras.layers.BatchNormalization
    return norm(axis=axis, momentum=1 - p["momentum"], epsilon=p["eps"], name=layer.name)


def _dropout(layer: LayerSpec, options: _Options) -> keras.layers.Layer:
    """Keras' own dropout; in lockstep, one that applies the plan's masks, torch's draws."""
    p = layer.params["p"]
    if options.mode != "lockstep":
        return keras.layers.Dropout(p, name=layer.name)
    if len(layer.in_shape) == 3:
        channels_last_map = layer.in_shape if options.data_format == "channels_last" else None
    else:
        channels_last_map = options.model.flattened_from(layer.name)
    return PlannedDropout(p, channels_last_map, name=layer.name)


def _linear(layer: LayerSpec, options: _Options) -> keras.layers.Layer:
    return keras.layers.Dense(
        layer.params["units"],
        use_bias=layer.params["bias"],
        activation=layer.activation,
        name=layer.name,
        **_inits(layer, options.init),
    )


LAYERS: dict[str, Callable[[LayerSpec, _Options], keras.layers.Layer | list[keras.layers.Layer]]] = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer, options: keras.layers.MaxPooling2D(
        layer.params["kernel"], layer.params["stride"], data_format=options.data_format, name=layer.name
    ),
    "avgpool2d": lambda layer, options: keras.layers.AveragePooling2D(
        layer.params["kernel"], layer.params["stride"], data_format=options.data_format, name=layer.name
    ),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": lambda layer, options: keras.layers.Flatten(data_format=options.data_format, name=layer.name),
    "linear": _linear,
    "dropout": _dropout,
    "relu": lambda layer, options: keras.layers.ReLU(name=layer.name),
    "leaky_relu": lambda layer, options: keras.layers.LeakyReLU(negative_slope=layer.params["slope"], name=layer.name),
    "prelu": lambda layer, options: keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(layer.params["init"]),
        shared_axes=list(range(1, len(layer.in_shape) + 1)),  # torch's PReLU: one slope for all
        name=layer.name,
    ),
    "tanh": lambda layer, options: keras.layers.Activation("tanh", name=layer.name),
    "sigmoid": lambda layer, options: keras.layers.Activation("sigmoid", name=layer.name),
    "softmax": lambda layer, options: keras.layers.Softmax(name=layer.name),
    "log_softmax": lambda layer, options: keras.layers.Activation("log_softmax", name=layer.name),
}


def _input_shape(model: ModelSpec, layout: str) -> tuple[int, ...]:
    channels, height, width = model.layers[0].in_shape
    return (channels, height, width) if layout == "nchw" else (height, width, channels)


def _permutes_nchw(model: ModelSpec, layout: str) -> bool:
    """TensorFlow's CPU Conv2D has no channels-first kernel (it runs only under XLA), so
    without a GPU an ``nchw`` model with convolutions permutes once to channels-last at
    its input. Pooling, padding, batchnorm and flatten run channels-first natively."""
    has_conv = any(layer.kind == "conv2d" for layer in model.layers)
    return layout == "nchw" and has_conv and not tf.config.list_physical_devices("GPU")


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> keras.Sequential:
    """Seed keras' generators (its counterpart of ``torch.manual_seed``), then add the layers.

    In ``lockstep`` mode a batchnorm keeps torch's running variance (``TorchBatchNormalization``)
    and a dropout applies the plan's masks (``PlannedDropout``, in a ``LockstepSequential``).
    """
    keras.utils.set_random_seed(model.seed)
    has_dropout = any(layer.kind == "dropout" for layer in model.layers)
    net = LockstepSequential() if mode == "lockstep" and has_dropout else keras.Sequential()
    net.add(keras.Input(shape=_input_shape(model, layout)))
    data_format = "channels_first" if layout == "nchw" else "channels_last"
    if _permutes_nchw(model, layout):
        net.add(keras.layers.Permute((2, 3, 1), name="nchw_to_nhwc"))
        data_format = "channels_last"
    options = _Options(model.init, data_format, mode, model)
    for layer in model.layers:
        made = LAYERS[layer.kind](layer, options)
        for keras_layer in made if isinstance(made, list) else [made]:
            net.add(keras_layer)
    return net


def count_parameters(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def parameter_table(model: keras.Model) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(layer, tensor, shape, numel)`` for each trainable tensor, layer by layer, as
    ``model.summary()`` counts them; Keras' shapes (HWIO kernels, ``(in, out)`` dense)."""
    return [
        (layer.name, w.path.split("/")[-1], tuple(w.shape), math.prod(w.shape))
        for layer in model.layers
        for w in layer.trainable_weights
    ]
