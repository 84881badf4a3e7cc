"""keras model <-> neutral weights (torch's layout).

Dense kernels are ``(in, out)``: the transpose of torch's ``(out, in)``. After a flatten
of a ``(C, H, W)`` map, Keras orders the inputs H, W, C (in both data formats), torch
C, H, W, so that layer's rows (or a batchnorm's per-feature vectors) are reordered too.
Conv kernels are HWIO in Keras, OIHW in torch, whatever the data format.
"""

from __future__ import annotations

from pathlib import Path

from keras_impl._keras import keras  # Keras on this process's backend (its family entered first)

from common.errors import WriteError
from common.files.weights import TENSORFLOW_NAMES, Weights, export_tensorflow, import_tensorflow
from keras_impl.build import build_model
from spec.schema import ModelSpec

NATIVE_FILE = "model.keras"  # what a run folder holds besides the neutral weights.npz


def _variables(model: keras.Model, name: str) -> dict:
    """A layer's variables by their neutral names: ``dense/kernel`` is ``weight``."""
    return {TENSORFLOW_NAMES[v.path.split("/")[-1]]: v for v in model.get_layer(name).weights}


def export_weights(model: keras.Model, spec: ModelSpec) -> Weights:
    return export_tensorflow(spec, lambda name: _variables(model, name))


def import_weights(model: keras.Model, spec: ModelSpec, weights: Weights) -> None:
    import_tensorflow(spec, weights, lambda name: _variables(model, name))


def save_native_model(spec: ModelSpec, weights: Weights, path: Path) -> None:
    """The model as Keras users save it, ``model.save(path)``, built channels-last as the
    listing writes it and not compiled (a compiled model would store the trainer's own
    loss and metrics): ``keras.saving.load_model(path)`` restores it without twinspec,
    except for reflect/replicate padding, whose layer is ours (``keras_impl.build.Pad2D``)."""
    model = build_model(spec, "nhwc")
    import_weights(model, spec, weights)
    try:
        model.save(path)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None
