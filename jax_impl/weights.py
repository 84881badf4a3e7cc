"""nnx model <-> neutral weights (torch's layout).

Flax holds TensorFlow's layouts: dense kernels are ``(in, out)``, conv kernels HWIO, and a
flatten of a ``(C, H, W)`` map gives H, W, C order (``common.files.weights`` converts, as for
the TensorFlow columns). A batchnorm's ``scale``, ``bias``, ``mean`` and ``var`` are torch's
``weight``, ``bias``, ``running_mean`` and ``running_var``; a PReLU's ``negative_slope`` its
``weight``.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx, serialization

from common.errors import WriteError
from common.files.atomic import atomic_write
from common.files.weights import Weights, check_weights, from_tensorflow, to_tensorflow
from jax_impl.build import Model, build_model
from spec.layers import parameter_shapes
from spec.schema import ModelSpec

NATIVE_FILE = "model.msgpack"  # what a run folder holds besides the neutral weights.npz: Flax's state, serialised
NEUTRAL_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "scale": "weight",
    "mean": "running_mean",
    "var": "running_var",
    "negative_slope": "weight",
}


def _variables(model: Model, name: str) -> dict[str, nnx.Variable]:
    """A layer's variables by their neutral names: ``conv1.kernel`` is ``weight``."""
    module = getattr(model, name)
    return {NEUTRAL_NAMES[key]: getattr(module, key) for key in NEUTRAL_NAMES if getattr(module, key, None) is not None}


def export_weights(model: Model, spec: ModelSpec) -> Weights:
    return {
        layer.name: {
            key: from_tensorflow(spec, layer.name, key, np.asarray(variable[...]))
            for key, variable in _variables(model, layer.name).items()
        }
        for layer in spec.layers
        if parameter_shapes(layer)
    }


def import_weights(model: Model, spec: ModelSpec, weights: Weights) -> None:
    """Neutral weights, checked, set into the model's variables."""
    check_weights(weights, spec, "weights")
    for name, params in weights.items():
        variables = _variables(model, name)
        for key, value in params.items():
            shape = tuple(variables[key].shape)
            variables[key][...] = jnp.asarray(to_tensorflow(spec, name, key, np.asarray(value), shape), jnp.float32)


def save_native_model(spec: ModelSpec, weights: Weights, path: Path) -> None:
    """The model's state as Flax users save it without Orbax: ``flax.serialization``'s
    msgpack of ``nnx.state(model).to_pure_dict()``, built channels-last as the listing
    writes it. ``serialization.msgpack_restore`` reads it back as arrays, running nothing
    from the file; ``nnx.replace_by_pure_dict`` puts it into a model the listing built."""
    model = build_model(spec, "nhwc")
    import_weights(model, spec, weights)
    state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat)).to_pure_dict()
    try:
        with atomic_write(path) as handle:
            handle.write(serialization.msgpack_serialize(state))
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None
