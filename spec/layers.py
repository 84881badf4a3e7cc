"""The layer kinds of the spec language: their parameters and their shape rule.

Shapes are layout-neutral: ``(C, H, W)`` for feature maps, ``(F,)`` for flat features,
never with the batch axis. Each backend maps every kind here to a native layer; a test
fails if either backend lacks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spec.fields import REQUIRED, Checker, boolean, number, positive_int, probability

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A layer that cannot take the shape it is given."""


@dataclass(frozen=True)
class LayerKind:
    """A layer kind: ``params`` maps each parameter to (checker, default or REQUIRED)."""

    doc: str
    infer: Callable[[Shape, dict[str, Any]], Shape]
    params: dict[str, tuple[Checker, Any]] = field(default_factory=dict)


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


def _describe(shape: Shape) -> str:
    if len(shape) == 3:
        return "feature map of shape (C, H, W) = {}".format(shape)
    return f"input of shape {shape}"


LAYER_KINDS: dict[str, LayerKind] = {
    "flatten": LayerKind("flattens (C, H, W) into C*H*W features", _flatten),
    "linear": LayerKind(
        "fully connected; in_features is inferred",
        _linear,
        {"units": (positive_int, REQUIRED), "bias": (boolean, True)},
    ),
    "dropout": LayerKind("zeroes features with probability p while training", _same, {"p": (probability, 0.5)}),
    "relu": LayerKind("max(x, 0)", _same),
    "leaky_relu": LayerKind("x if x > 0 else slope * x", _same, {"slope": (number, 0.01)}),
    "prelu": LayerKind("leaky ReLU with one learned slope", _same, {"init": (number, 0.25)}),
    "tanh": LayerKind("hyperbolic tangent", _same),
    "sigmoid": LayerKind("logistic function", _same),
    "softmax": LayerKind("softmax over the features", _flat_only),
    "log_softmax": LayerKind("log of the softmax over the features", _flat_only),
}
