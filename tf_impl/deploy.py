"""A trained model exported the way TensorFlow ships models, without Keras: a SavedModel
(``tf.saved_model.save`` of a ``tf.Module`` whose ``serving_default`` signature takes uint8
images) and a LiteRT flatbuffer (``tf.lite.TFLiteConverter`` of that signature's concrete
function). The module prepares the pixels as training did (pixels / 255, then the run's
mean and std) and calls the trained model in eval mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.deploy.files import embed_info
from common.deploy.formats import DeployInfo
from common.errors import DataError
from common.files.weights import Weights
from spec.schema import ModelSpec
from tf_impl._tensorflow import tf
from tf_impl.build import build_model
from tf_impl.weights import import_weights

SIGNATURE = "serving_default"


class _Deployed(tf.Module):
    """The trained model behind its preprocessing; ``serve`` is the serving signature."""

    def __init__(self, net: tf.Module, normalization: dict | None, layout: str, shape: tuple[int, ...]) -> None:
        super().__init__(name="deployed")
        self.net = net
        broadcast = (1, -1, 1, 1) if layout == "nchw" else (1, 1, 1, -1)
        self.mean = self.std = None
        if normalization is not None:
            self.mean = tf.constant(np.asarray(normalization["mean"], np.float32).reshape(broadcast))
            self.std = tf.constant(np.asarray(normalization["std"], np.float32).reshape(broadcast))
        images = tf.TensorSpec([None, *shape], tf.uint8, name="images")
        self.serve = tf.function(self.__call__, input_signature=[images])

    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.cast(images, tf.float32) / 255
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return {"outputs": self.net(x, training=False)}


def deployable(model: ModelSpec, layout: str, weights: Weights, normalization: dict | None) -> _Deployed:
    """The trained model behind its preprocessing: uint8 images in ``layout`` in, the model's outputs out."""
    net = build_model(model, layout)
    import_weights(net, model, weights)
    channels, height, width = model.layers[0].in_shape
    shape = (channels, height, width) if layout == "nchw" else (height, width, channels)
    return _Deployed(net, normalization, layout, shape)


def predict_eager(deployed: _Deployed, images: np.ndarray) -> np.ndarray:
    """The deployable's outputs in TensorFlow's eager mode: what a deployment runtime is timed against."""
    return deployed(tf.constant(images))["outputs"].numpy()


def export(deployed: _Deployed, fmt: str, path: Path, info: DeployInfo) -> None:
    """Write ``deployed`` to ``path`` with TensorFlow's own tools, ``info`` embedded."""
    if fmt == "saved_model":
        tf.saved_model.save(deployed, str(path), signatures={SIGNATURE: deployed.serve})
    else:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([deployed.serve.get_concrete_function()], deployed)
        path.write_bytes(converter.convert())
    embed_info(fmt, path, info)


def load_exported(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A SavedModel folder in ``tf.saved_model.load``, through its serving signature (a
    graph of TensorFlow ops: loading it runs no Python from the folder)."""
    try:
        serve = tf.saved_model.load(str(path)).signatures[SIGNATURE]
        (name,) = serve.structured_input_signature[1]
    except Exception as exc:  # a damaged folder can raise nearly anything
        raise DataError(f"{path} is not a loadable SavedModel ({' '.join(str(exc).split())[:160]})") from None

    def run(images: np.ndarray) -> np.ndarray:
        (outputs,) = serve(**{name: tf.constant(images)}).values()
        return outputs.numpy()

    return run
