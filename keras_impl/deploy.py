"""A trained model exported the way Keras ships models, through ``model.export(format=...)``:
``onnx`` (under TensorFlow, Keras converts with tf2onnx), ``litert`` (TensorFlow's
``TFLiteConverter``) and ``tf_saved_model`` (a SavedModel with a ``serving_default``
signature). The exported model is a functional ``keras.Model``: uint8 pixels in, a small
layer that prepares them as training did (pixels / 255, then the run's mean and std), then
the trained ``keras.Sequential``. Its SavedModel runs in TensorFlow alone: ``load_exported``
is the tf column's. Keras on JAX and on torch export through TensorFlow (``jax2tf``) or
other converters, which their processes never load: those columns re-export
:func:`deployable` and :func:`predict_eager` and export no format."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from keras_impl._keras import keras  # Keras on this process's backend (its family entered first)
import numpy as np

from common.deploy.files import embed_info
from common.deploy.formats import ONNX_OPSET, DeployInfo
from common.files.weights import Weights
from keras_impl.build import build_model
from keras_impl.weights import import_weights
from spec.schema import ModelSpec

KERAS_FORMATS = {"onnx": "onnx", "litert": "litert", "saved_model": "tf_saved_model"}  # ours -> Keras' name


class _Pixels(keras.layers.Layer):
    """uint8 pixels -> the model's inputs, as training prepared them: / 255, then per channel
    ``(x - mean) / std`` (none for a run without normalisation)."""

    def __init__(self, normalization: dict | None, layout: str, **kwargs) -> None:
        super().__init__(**kwargs)
        shape = (1, -1, 1, 1) if layout == "nchw" else (1, 1, 1, -1)
        self.mean = self.std = None
        if normalization is not None:
            self.mean = np.asarray(normalization["mean"], np.float32).reshape(shape)
            self.std = np.asarray(normalization["std"], np.float32).reshape(shape)

    def call(self, x):
        x = keras.ops.cast(x, "float32") / 255
        return x if self.mean is None else (x - self.mean) / self.std


def deployable(model: ModelSpec, layout: str, weights: Weights, normalization: dict | None) -> keras.Model:
    """The trained model behind its preprocessing: uint8 images in ``layout`` in, the model's outputs out."""
    net = build_model(model, layout)
    import_weights(net, model, weights)
    channels, height, width = model.layers[0].in_shape
    shape = (channels, height, width) if layout == "nchw" else (height, width, channels)
    images = keras.Input(shape, dtype="uint8", name="images")
    deployed = keras.Model(images, net(_Pixels(normalization, layout, name="pixels")(images)), name="deployed")
    deployed(np.zeros((1, *shape), np.uint8))  # Keras' ONNX export wants a model that has been called
    return deployed


def predict_eager(deployed: keras.Model, images: np.ndarray) -> np.ndarray:
    """The deployable's outputs in Keras itself (eager): what a deployment runtime is timed against."""
    return keras.ops.convert_to_numpy(deployed(images, training=False))


def export(deployed: keras.Model, fmt: str, path: Path, info: DeployInfo) -> None:
    """Write ``deployed`` to ``path`` with ``model.export``, ``info`` embedded."""
    options = {"opset_version": ONNX_OPSET} if fmt == "onnx" else {}
    with warnings.catch_warnings():  # Keras' patch of tf2onnx for numpy 2 looks up np.object, which warns
        warnings.filterwarnings("ignore", category=FutureWarning, module="keras.src.export.tf2onnx_lib")
        deployed.export(str(path), format=KERAS_FORMATS[fmt], verbose=False, **options)
    embed_info(fmt, path, info)


def load_exported(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A SavedModel runs in TensorFlow alone: the tf column's loader, imported when asked for
    (this module serves Keras on every backend, and only TensorFlow's loads TensorFlow)."""
    from tf_impl.deploy import load_exported as tensorflow_load_exported

    return tensorflow_load_exported(fmt, path)
