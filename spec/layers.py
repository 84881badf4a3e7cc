"""The layer kinds of the spec language: their parameters and their shape rule.

Shapes are layout-neutral: ``(C, H, W)`` for feature maps, ``(F,)`` for flat features,
never with the batch axis. Each column maps every kind here to a native layer; a test
fails if any column lacks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spec.fields import (
    REQUIRED,
    Checker,
    boolean,
    fraction,
    non_negative_int,
    number,
    number_or_word,
    one_of,
    positive_int,
    positive_number,
    probability,
)
from spec.schema import LayerSpec

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A layer that cannot take the shape it is given."""


@dataclass(frozen=True)
class LayerKind:
    """A layer kind: ``params`` maps each parameter to (checker, default or REQUIRED)."""

    infer: Callable[[Shape, dict[str, Any]], Shape]
    params: dict[str, tuple[Checker, Any]] = field(default_factory=dict)
    finish: Callable[[dict[str, Any]], dict[str, Any]] = lambda params: params  # derived defaults


def _same(shape: Shape, _: dict[str, Any]) -> Shape:
    return shape


def _flat_only(shape: Shape, _: dict[str, Any]) -> Shape:
    if len(shape) != 1:
        raise ShapeError(f"needs flat features, got a {_describe(shape)}; add a flatten layer first")
    return shape


def _flatten(shape: Shape, _: dict[str, Any]) -> Shape:
    size = 1
    for dim in shape:
        size *= dim
    return (size,)


def _linear(shape: Shape, params: dict[str, Any]) -> Shape:
    _flat_only(shape, params)
    return (params["units"],)


def _map_only(shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"needs a (C, H, W) feature map, got flat features {shape}")
    return shape


def _window(size: int, kernel: int, stride: int, pad: int, what: str) -> int:
    if kernel > size + 2 * pad:
        padded = f" padded to {size + 2 * pad}" if pad else ""
        raise ShapeError(f"has a {what} of {kernel}, larger than its input of {size}{padded}")
    return (size + 2 * pad - kernel) // stride + 1


def _conv2d(shape: Shape, params: dict[str, Any]) -> Shape:
    _, height, width = _map_only(shape)
    kernel, stride, padding = params["kernel"], params["stride"], params["padding"]
    if padding == "same":
        if stride != 1:
            raise ShapeError("cannot use padding same with stride > 1 (torch refuses it); give a number")
        return (params["filters"], height, width)
    pad = 0 if padding == "valid" else padding
    return (params["filters"], *(_window(size, kernel, stride, pad, "kernel") for size in (height, width)))


def _pool2d(shape: Shape, params: dict[str, Any]) -> Shape:
    channels, height, width = _map_only(shape)
    return (channels, *(_window(size, params["kernel"], params["stride"], 0, "window") for size in (height, width)))


def _pad2d(shape: Shape, params: dict[str, Any]) -> Shape:
    channels, height, width = _map_only(shape)
    pad = params["padding"]
    if params["mode"] == "reflect" and pad >= min(height, width):
        raise ShapeError(f"cannot reflect-pad by {pad} an input of {height}x{width}: padding must be smaller")
    return (channels, height + 2 * pad, width + 2 * pad)


def _batchnorm(shape: Shape, _: dict[str, Any]) -> Shape:
    if len(shape) not in (1, 3):
        raise ShapeError(f"needs (C, H, W) or flat features, got {shape}")
    return shape


def _stride_defaults_to_kernel(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "stride": params["stride"] or params["kernel"]}


def fan_in(kind: str, in_shape: Shape, params: dict[str, Any]) -> int:
    """Inputs per output unit of a linear or conv2d layer: what default inits scale by."""
    if kind == "conv2d":
        return in_shape[0] * params["kernel"] ** 2
    return in_shape[0]


def parameter_shapes(layer: LayerSpec) -> dict[str, Shape]:
    """The layer's parameters (and batchnorm's running statistics) with their shapes as torch
    holds them, the neutral weights' layout: conv ``(out, in, kh, kw)``, linear ``(out, in)``."""
    p, channels = layer.params, layer.in_shape[0]
    shapes: dict[str, Shape] = {}
    if layer.kind == "linear":
        shapes["weight"] = (p["units"], channels)
    elif layer.kind == "conv2d":
        shapes["weight"] = (p["filters"], channels, p["kernel"], p["kernel"])
    elif layer.kind == "batchnorm":
        shapes = {key: (channels,) for key in ("weight", "bias", "running_mean", "running_var")}
    elif layer.kind == "prelu":
        shapes["weight"] = (1,)
    if p.get("bias"):
        shapes["bias"] = (layer.out_shape[0],)
    return shapes


def _describe(shape: Shape) -> str:
    if len(shape) == 3:
        return f"feature map of shape (C, H, W) = {shape}"
    return f"input of shape {shape}"


_UNITS = number_or_word(positive_int, "classes", expected="a positive integer, or classes (as many as the dataset has)")
_CONV_PADDING = number_or_word(non_negative_int, "valid", "same", expected="a non-negative integer, valid or same")
_POOL = {"kernel": (positive_int, REQUIRED), "stride": (positive_int, None)}

LAYER_KINDS: dict[str, LayerKind] = {
    "conv2d": LayerKind(
        _conv2d,
        {
            "filters": (positive_int, REQUIRED),
            "kernel": (positive_int, REQUIRED),
            "stride": (positive_int, 1),
            "padding": (_CONV_PADDING, 0),
            "bias": (boolean, True),
            "activation": (one_of("relu"), None),  # fused, as Keras' Conv2D(activation="relu")
        },
    ),
    "maxpool2d": LayerKind(_pool2d, _POOL, _stride_defaults_to_kernel),
    "avgpool2d": LayerKind(_pool2d, _POOL, _stride_defaults_to_kernel),
    "pad2d": LayerKind(
        _pad2d,
        {"padding": (positive_int, REQUIRED), "mode": (one_of("zeros", "reflect", "replicate"), "zeros")},
    ),
    "batchnorm": LayerKind(
        _batchnorm,
        {"momentum": (probability, 0.1), "eps": (positive_number, 1e-5)},
    ),
    "flatten": LayerKind(_flatten),
    "linear": LayerKind(
        _linear,
        {"units": (_UNITS, REQUIRED), "bias": (boolean, True), "activation": (one_of("relu", "softmax"), None)},
    ),
    "dropout": LayerKind(_same, {"p": (fraction, 0.5)}),
    "relu": LayerKind(_same),
    "leaky_relu": LayerKind(_same, {"slope": (number, 0.01)}),
    "prelu": LayerKind(_same, {"init": (number, 0.25)}),
    "tanh": LayerKind(_same),
    "sigmoid": LayerKind(_same),
    "softmax": LayerKind(_flat_only),
    "log_softmax": LayerKind(_flat_only),
}


def default_layer(kind: str, in_shape: Shape = (1,)) -> LayerSpec:
    """A layer of ``kind`` named after it, with every parameter at the spec language's
    default: what a figure of that kind's function shows (the activations' panels)."""
    params = LAYER_KINDS[kind].finish({name: default for name, (_, default) in LAYER_KINDS[kind].params.items()})
    return LayerSpec(kind, kind, params, in_shape, LAYER_KINDS[kind].infer(in_shape, params), 0)


ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu")  # the kinds the activation figure draws
