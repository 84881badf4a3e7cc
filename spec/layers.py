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
    Invalid,
    boolean,
    fraction,
    non_negative_int,
    number,
    number_or_word,
    one_of,
    one_or_pair,
    positive_int,
    positive_number,
    probability,
)
from spec.schema import Drawn, LayerSpec

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
    _check_drawn(params)
    matrix = params.get("weights")
    if matrix is not None and (len(matrix), len(matrix[0])) != (params["units"], shape[0]):
        wanted = f"({params['units']}, {shape[0]})"
        raise ShapeError(
            f"sets a {len(matrix)}x{len(matrix[0])} weight matrix, but its (units, in_features) is {wanted}"
        )
    return (params["units"],)


def _map_only(shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"needs a (C, H, W) feature map, got flat features {shape}")
    return shape


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """A size as (height, width): an int is both."""
    return value if isinstance(value, tuple) else (value, value)


def _window(size: int, kernel: int, stride: int, pad: int, what: str) -> int:
    if kernel > size + 2 * pad:
        padded = f" padded to {size + 2 * pad}" if pad else ""
        raise ShapeError(f"has a {what} of {kernel}, larger than its input of {size}{padded}")
    return (size + 2 * pad - kernel) // stride + 1


def _check_wrap(mode: str, pads: tuple[int, int], height: int, width: int) -> None:
    """torch reflects only by less than the input, and wraps around at most once."""
    if mode == "reflect" and (pads[0] >= height or pads[1] >= width):
        raise ShapeError(f"cannot reflect-pad by {pads} an input of {height}x{width}: padding must be smaller")
    if mode == "circular" and (pads[0] > height or pads[1] > width):
        raise ShapeError(f"cannot pad circularly by {pads} an input of {height}x{width}: padding must not exceed it")


# Filters set by hand, as the convolution slides and the book's chapter 5 set them: Sobel's
# horizontal and vertical gradients, and the book's edge filter (a Laplacian).
KERNELS = {
    "sobel_x": ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0)),
    "sobel_y": ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0)),
    "laplacian": ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0)),
}
_KERNELS_EXPECTED = f"a kernel's name ({', '.join(KERNELS)}), a matrix of numbers, or a list of them, one per filter"


def _matrix(value: Any) -> tuple[tuple[float, ...], ...] | None:
    """A non-empty list of equally long non-empty lists of numbers, as floats; None if it is not one."""
    if not isinstance(value, list) or not value or not all(isinstance(row, list) and row for row in value):
        return None
    if len({len(row) for row in value}) != 1:
        return None
    try:
        return tuple(tuple(number(v) for v in row) for row in value)
    except Invalid:
        return None


def drawn(value: Any) -> Drawn:
    """``{normal: {std: S}}`` (std 1 by default) or ``{uniform: {a: A, b: B}}`` (0 and 1 by
    default, a < b): torch's ``nn.init.normal_`` and ``uniform_``, their names and defaults."""
    expected = "{normal: {std}} or {uniform: {a, b}}"
    if not isinstance(value, dict) or len(value) != 1:
        raise Invalid(expected)
    ((kind, params),) = value.items()
    params = {} if params is None else params
    keys = {"normal": {"std"}, "uniform": {"a", "b"}}.get(kind)
    if keys is None or not isinstance(params, dict) or set(params) - keys:
        raise Invalid(expected)
    try:
        if kind == "normal":
            return Drawn("normal", std=positive_number(params.get("std", 1.0)))
        a, b = number(params.get("a", 0.0)), number(params.get("b", 1.0))
    except Invalid as exc:
        raise Invalid(f"{expected}, each parameter {exc}") from None
    if not a < b:
        raise Invalid("{uniform: {a, b}} with a < b")
    return Drawn("uniform", a=a, b=b)


def _kernels(value: Any) -> tuple[tuple[tuple[float, ...], ...], ...]:
    """A conv2d's ``weights``: its filters' 2-D kernels, one for every filter or one each."""
    if isinstance(value, str):
        if value not in KERNELS:
            raise Invalid(_KERNELS_EXPECTED)
        return (KERNELS[value],)
    one = _matrix(value)
    if one is not None:
        return (one,)
    if isinstance(value, list) and value:
        each = [KERNELS.get(item) if isinstance(item, str) else _matrix(item) for item in value]
        if all(each):
            return tuple(each)
    raise Invalid(_KERNELS_EXPECTED)


def _weight_matrix(value: Any) -> tuple[tuple[float, ...], ...]:
    """A linear layer's ``weights``: its (units, in_features) matrix."""
    matrix = _matrix(value)
    if matrix is None:
        raise Invalid("a matrix of numbers, one row per unit")
    return matrix


def set_weights(layer: LayerSpec) -> tuple | None:
    """A layer's ``weights`` as torch holds them (the neutral layout): conv ``(out, in, kh, kw)``,
    each filter's kernel repeated over the channels it sees; linear ``(out, in)``. None: drawn."""
    weights = layer.params.get("weights")
    if weights is None or layer.kind == "linear":
        return weights
    per_filter = weights * layer.params["filters"] if len(weights) == 1 else weights
    seen = layer.in_shape[0] // layer.params["groups"]
    return tuple((kernel,) * seen for kernel in per_filter)


def _check_drawn(params: dict[str, Any]) -> None:
    if params["init"] is not None and params["weights"] is not None:
        raise ShapeError("sets its weights by hand: an init has nothing to draw")


def _check_set_kernels(params: dict[str, Any]) -> None:
    _check_drawn(params)
    kernels, filters = params.get("weights"), params["filters"]
    if kernels is None:
        return
    if len(kernels) not in (1, filters):
        raise ShapeError(f"sets {len(kernels)} kernels for its {filters} filters: give one for all, or one each")
    size = pair(params["kernel"])
    for kernel in kernels:
        if (len(kernel), len(kernel[0])) != size:
            raise ShapeError(f"sets a {len(kernel)}x{len(kernel[0])} kernel, but its kernel is {size[0]}x{size[1]}")


def _conv2d(shape: Shape, params: dict[str, Any]) -> Shape:
    channels, height, width = _map_only(shape)
    _check_set_kernels(params)
    filters, groups, padding, mode = params["filters"], params["groups"], params["padding"], params["padding_mode"]
    if channels % groups or filters % groups:
        raise ShapeError(
            f"has {groups} groups, which must divide its {channels} input channels and its {filters} filters"
        )
    strides, dilations = pair(params["stride"]), pair(params["dilation"])
    if max(dilations) > 1 and max(strides) > 1:
        raise ShapeError("cannot both stride and dilate (Keras refuses strides > 1 with dilation_rate > 1)")
    kernels = tuple(d * (k - 1) + 1 for d, k in zip(dilations, pair(params["kernel"])))  # a dilated kernel's reach
    what = "dilated kernel" if max(dilations) > 1 else "kernel"
    if padding == "same":
        if max(strides) > 1:
            raise ShapeError("cannot use padding same with stride > 1 (torch refuses it); give a number")
        if mode != "zeros":
            raise ShapeError(f"pads with zeros for padding same; padding_mode {mode} needs padding in pixels")
        return (filters, height, width)
    pads = (0, 0) if padding == "valid" else pair(padding)
    _check_wrap(mode, pads, height, width)
    return (filters, *(_window(*dims, what) for dims in zip((height, width), kernels, strides, pads)))


def _pool2d(shape: Shape, params: dict[str, Any]) -> Shape:
    channels, height, width = _map_only(shape)
    kernels, strides = pair(params["kernel"]), pair(params["stride"])
    pads = _pool_pads((height, width), kernels, strides, params["padding"])
    for pad, kernel in zip(pads, kernels):
        if 2 * pad > kernel:
            raise ShapeError(f"pads by {pad}, more than half its window of {kernel} (torch refuses it)")
    dims = zip((height, width), kernels, strides, pads)
    return (channels, *(_window(*window, "window") for window in dims))


def _pool_pads(size: tuple[int, int], kernels: tuple[int, int], strides: tuple[int, int], padding: Any) -> tuple:
    """A pool's padding in pixels on each side, (height, width). ``same`` pads as TensorFlow
    does (an output of ceil(size / stride)), where that is even on both sides of an axis:
    torch's pooling pads evenly only."""
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        return pair(padding)
    pads = []
    for extent, kernel, stride in zip(size, kernels, strides):
        total = max((-(-extent // stride) - 1) * stride + kernel - extent, 0)
        if total % 2:
            raise ShapeError(
                f"pads same by {total} pixels over {extent}: TensorFlow puts the odd one after, torch pads "
                "evenly only; give the padding in pixels"
            )
        pads.append(total // 2)
    return tuple(pads)


def pool_pads(layer: LayerSpec) -> tuple[int, int]:
    """A maxpool2d's or avgpool2d's padding on each side, (height, width), as torch takes it."""
    p = layer.params
    return _pool_pads(layer.in_shape[1:], pair(p["kernel"]), pair(p["stride"]), p["padding"])


def _pad2d(shape: Shape, params: dict[str, Any]) -> Shape:
    channels, height, width = _map_only(shape)
    pads, mode = pair(params["padding"]), params["mode"]
    _check_wrap(mode, pads, height, width)
    if params["value"] != 0 and mode != "constant":
        raise ShapeError(f"pads with {mode}: value is the constant mode's (mode: constant)")
    return (channels, height + 2 * pads[0], width + 2 * pads[1])


def _batchnorm(shape: Shape, _: dict[str, Any]) -> Shape:
    if len(shape) not in (1, 3):
        raise ShapeError(f"needs (C, H, W) or flat features, got {shape}")
    return shape


def _stride_defaults_to_kernel(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "stride": params["stride"] or params["kernel"]}


def fan_in(kind: str, in_shape: Shape, params: dict[str, Any]) -> int:
    """Inputs per output unit of a linear or conv2d layer: what default inits scale by (a
    grouped convolution's unit sees its group's channels)."""
    if kind == "conv2d":
        kernel_height, kernel_width = pair(params["kernel"])
        return in_shape[0] // params["groups"] * kernel_height * kernel_width
    return in_shape[0]


def parameter_shapes(layer: LayerSpec) -> dict[str, Shape]:
    """The layer's parameters (and batchnorm's running statistics) with their shapes as torch
    holds them, the neutral weights' layout: conv ``(out, in, kh, kw)``, linear ``(out, in)``."""
    p, channels = layer.params, layer.in_shape[0]
    shapes: dict[str, Shape] = {}
    if layer.kind == "linear":
        shapes["weight"] = (p["units"], channels)
    elif layer.kind == "conv2d":
        shapes["weight"] = (p["filters"], channels // p["groups"], *pair(p["kernel"]))
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
_SIZE = one_or_pair(positive_int, "a positive integer, or two (height, width)")
_PIXELS = one_or_pair(non_negative_int, "a non-negative integer, or two (height, width)")
_PADDING = number_or_word(
    _PIXELS, "valid", "same", expected="a non-negative integer, two (height, width), valid or same"
)
_POOL = {"kernel": (_SIZE, REQUIRED), "stride": (_SIZE, None), "padding": (_PADDING, 0)}
PAD_MODES = ("zeros", "reflect", "replicate", "circular")  # torch's Conv2d padding_mode, and ZeroPad2d's kin

LAYER_KINDS: dict[str, LayerKind] = {
    "conv2d": LayerKind(
        _conv2d,
        {
            "filters": (positive_int, REQUIRED),
            "kernel": (_SIZE, REQUIRED),
            "stride": (_SIZE, 1),
            "padding": (_PADDING, 0),
            "dilation": (_SIZE, 1),
            "groups": (positive_int, 1),
            "padding_mode": (one_of(*PAD_MODES), "zeros"),
            "bias": (boolean, True),
            "activation": (one_of("relu"), None),  # fused, as Keras' Conv2D(activation="relu")
            "weights": (_kernels, None),  # set by hand (biases then start at 0); None: drawn
            "init": (drawn, None),  # drawn from a distribution; None: the model's init
            "trainable": (boolean, True),  # false: frozen, training leaves it as it starts
        },
    ),
    "maxpool2d": LayerKind(_pool2d, _POOL, _stride_defaults_to_kernel),
    "avgpool2d": LayerKind(_pool2d, _POOL, _stride_defaults_to_kernel),
    "pad2d": LayerKind(
        _pad2d,
        {
            "padding": (one_or_pair(positive_int, "a positive integer, or two (height, width)"), REQUIRED),
            "mode": (one_of(*PAD_MODES, "constant"), "zeros"),
            "value": (number, 0.0),  # the constant mode's
        },
    ),
    "batchnorm": LayerKind(
        _batchnorm,
        {"momentum": (probability, 0.1), "eps": (positive_number, 1e-5)},
    ),
    "flatten": LayerKind(_flatten),
    "linear": LayerKind(
        _linear,
        {
            "units": (_UNITS, REQUIRED),
            "bias": (boolean, True),
            "activation": (one_of("relu", "softmax"), None),
            "weights": (_weight_matrix, None),
            "init": (drawn, None),
            "trainable": (boolean, True),
            "lazy": (boolean, False),  # torch's nn.LazyLinear: in_features taken at a dry run
        },
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
