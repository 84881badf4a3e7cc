"""Spec -> ``keras.Sequential`` whose layers carry the spec's layer names."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras

from spec.schema import LayerSpec, ModelSpec


def _torch_init(layer: LayerSpec) -> dict:
    """torch's default init as keras initializers: kaiming-uniform(a=sqrt 5) is
    VarianceScaling(1/3, fan_in, uniform), a bound of 1/sqrt(fan_in); biases share that bound."""
    bound = 1.0 / math.sqrt(layer.in_shape[0])
    return {
        "kernel_initializer": keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }


def _linear(layer: LayerSpec, init: str, data_format: str) -> keras.layers.Layer:
    inits = _torch_init(layer) if init == "torch" else {}
    return keras.layers.Dense(layer.params["units"], use_bias=layer.params["bias"], name=layer.name, **inits)


LAYERS: dict[str, Callable[[LayerSpec, str, str], keras.layers.Layer]] = {
    "flatten": lambda layer, init, fmt: keras.layers.Flatten(data_format=fmt, name=layer.name),
    "linear": _linear,
    "dropout": lambda layer, init, fmt: keras.layers.Dropout(layer.params["p"], name=layer.name),
    "relu": lambda layer, init, fmt: keras.layers.ReLU(name=layer.name),
    "leaky_relu": lambda layer, init, fmt: keras.layers.LeakyReLU(negative_slope=layer.params["slope"], name=layer.name),
    "prelu": lambda layer, init, fmt: keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(layer.params["init"]), shared_axes=_all_but_batch(layer), name=layer.name
    ),
    "tanh": lambda layer, init, fmt: keras.layers.Activation("tanh", name=layer.name),
    "sigmoid": lambda layer, init, fmt: keras.layers.Activation("sigmoid", name=layer.name),
    "softmax": lambda layer, init, fmt: keras.layers.Softmax(name=layer.name),
    "log_softmax": lambda layer, init, fmt: keras.layers.Activation("log_softmax", name=layer.name),
}


def _all_but_batch(layer: LayerSpec) -> list[int]:
    """torch's PReLU learns one slope for everything; keras shares it over these axes."""
    return list(range(1, len(layer.in_shape) + 1))


def input_shape(model: ModelSpec, layout: str) -> tuple[int, ...]:
    channels, height, width = model.layers[0].in_shape
    return (channels, height, width) if layout == "nchw" else (height, width, channels)


def build_model(model: ModelSpec, layout: str) -> keras.Sequential:
    """Seed keras' generators (its counterpart of ``torch.manual_seed``), then add the layers."""
    keras.utils.set_random_seed(model.seed)
    data_format = "channels_first" if layout == "nchw" else "channels_last"
    net = keras.Sequential()
    net.add(keras.Input(shape=input_shape(model, layout)))
    for layer in model.layers:
        net.add(LAYERS[layer.kind](layer, model.init, data_format))
    return net


def count_parameters(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))
