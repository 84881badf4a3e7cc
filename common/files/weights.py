"""The neutral weights format: one ``.npz`` keyed ``<layer>/<parameter>``, torch's layout.

Canonical layout (what torch stores): conv2d ``weight`` is ``(out, in, kh, kw)``; linear
``weight`` is ``(out, in)`` with inputs in C, H, W order after a flatten; ``bias`` is
``(out,)``; batchnorm has ``weight, bias, running_mean, running_var``; PReLU ``weight`` is
``(1,)``. Each column converts to and from it, so a file moves weights between
frameworks and layouts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import DataError, WriteError
from common.files.atomic import atomic_write
from common.files.npz import read_npz
from spec.layers import parameter_shapes
from spec.schema import ModelSpec

Weights = dict[str, dict[str, np.ndarray]]


def expected_shapes(model: ModelSpec) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every parameter a spec's model has, with its canonical shape, layer by layer."""
    return {layer.name: shapes for layer in model.layers if (shapes := parameter_shapes(layer))}


def check_weights(weights: Weights, model: ModelSpec, source: str) -> Weights:
    """Reject weights that do not fit the spec, naming the first mismatch, and weights
    that are not finite real numbers in float32 (NaN, infinity, complex, text...)."""
    expected = expected_shapes(model)
    if set(weights) != set(expected):
        raise DataError(f"{source}: layers {sorted(weights)} do not match the spec's {sorted(expected)}")
    for name, params in expected.items():
        got = {key: tuple(value.shape) for key, value in weights[name].items()}
        if got != params:
            raise DataError(f"{source}: layer '{name}' has {got}, the spec needs {params}")
        for key, value in weights[name].items():
            value = np.asarray(value)
            if value.dtype == bool or not (
                np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)
            ):
                raise DataError(f"{source}: {name}/{key} holds {value.dtype} values; weights are real numbers")
            with np.errstate(over="ignore"):
                finite = np.isfinite(value.astype(np.float32))
            if not finite.all():
                bad = value.reshape(-1)[np.argmin(finite.reshape(-1))]
                raise DataError(f"{source}: {name}/{key} holds {bad}, which is not a finite float32; weights must be")
    return weights


def save_weights(weights: Weights, path: Path, overwrite: bool = True) -> Path:
    """Write ``weights`` to the ``.npz`` file ``path``, whole or not at all."""
    flat = {
        f"{layer}/{key}": np.asarray(value, np.float32)
        for layer, params in weights.items()
        for key, value in params.items()
    }
    try:
        with atomic_write(path, overwrite=overwrite) as handle:
            np.savez(handle, **flat)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None
    return path


def load_weights(path: Path, model: ModelSpec) -> Weights:
    """A weights file checked against the spec: every failure is one ``DataError``."""
    flat = read_npz(path, "weights file", "write one with 'run.py export', or use a run's weights.npz")
    weights: Weights = {}
    for key, value in flat.items():
        layer, _, param = key.partition("/")
        weights.setdefault(layer, {})[param] = value
    return check_weights(weights, model, str(path))


# TensorFlow's names for a layer's variables, Keras' and a tf.Module's alike, by the neutral format's.
TENSORFLOW_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "alpha": "weight",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def export_tensorflow(spec: ModelSpec, variables_of: Callable[[str], dict[str, Any]]) -> Weights:
    """Neutral weights from a TensorFlow-family model (Keras' or a ``tf.Module``), whose
    ``variables_of(layer)`` gives a layer's variables by their neutral names."""
    return {
        name: {key: from_tensorflow(spec, name, key, var.numpy()) for key, var in variables_of(name).items()}
        for name in expected_shapes(spec)
    }


def import_tensorflow(spec: ModelSpec, weights: Weights, variables_of: Callable[[str], dict[str, Any]]) -> None:
    """Neutral weights, checked, assigned into a TensorFlow-family model's variables."""
    check_weights(weights, spec, "weights")
    for name, params in weights.items():
        variables = variables_of(name)
        for key, value in params.items():
            variables[key].assign(to_tensorflow(spec, name, key, np.asarray(value), tuple(variables[key].shape)))


def to_tensorflow(spec: ModelSpec, name: str, key: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One neutral (torch-layout) tensor as TensorFlow holds it, for Keras and plain TF alike:
    HWIO kernels, ``(in, out)`` dense kernels, and the rows (or the batchnorm vector) after a
    flatten of a C, H, W map in H, W, C order, which is how TensorFlow flattens."""
    if spec.layer(name).kind == "batchnorm" and spec.flattened_from(name) is not None:
        channels, height, width = spec.flattened_from(name)
        return np.ascontiguousarray(value.reshape(channels, height, width).transpose(1, 2, 0).reshape(-1))
    if key == "weight" and spec.layer(name).kind == "conv2d":
        return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
    if key == "weight" and spec.layer(name).kind == "linear":
        source = spec.flattened_from(name)
        if source is not None:
            channels, height, width = source
            value = value.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(len(value), -1)
        return np.ascontiguousarray(value.T)
    return value.reshape(shape)


def from_tensorflow(spec: ModelSpec, name: str, key: str, value: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_tensorflow`: a TensorFlow tensor in the neutral layout."""
    if spec.layer(name).kind == "batchnorm" and spec.flattened_from(name) is not None:
        channels, height, width = spec.flattened_from(name)
        return np.ascontiguousarray(value.reshape(height, width, channels).transpose(2, 0, 1).reshape(-1))
    if key == "weight" and spec.layer(name).kind == "conv2d":
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    if key == "weight" and spec.layer(name).kind == "linear":
        value = value.T
        source = spec.flattened_from(name)
        if source is not None:
            channels, height, width = source
            value = value.reshape(-1, height, width, channels).transpose(0, 3, 1, 2).reshape(len(value), -1)
        return np.ascontiguousarray(value)
    return value.reshape(-1)
