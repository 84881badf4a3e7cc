"""One forward pass from given weights: what forward parity compares across frameworks."""

from __future__ import annotations

from keras_impl._keras import keras  # Keras on this process's backend (its family entered first)
import numpy as np

from common.data.prep import to_layout
from common.files.weights import Weights
from keras_impl.build import build_model
from keras_impl.weights import export_weights, import_weights
from spec.schema import ModelSpec


def initial_weights(model: ModelSpec) -> Weights:
    """The weights this column draws for ``model`` (seeded by ``model.seed``)."""
    return export_weights(build_model(model, "nhwc"), model)


def forward(model: ModelSpec, layout: str, weights: Weights, x: np.ndarray) -> np.ndarray:
    """Eval-mode outputs for canonical ``(N, C, H, W)`` inputs, computed in ``layout``."""
    net = build_model(model, layout)
    import_weights(net, model, weights)
    return keras.ops.convert_to_numpy(net(to_layout(x, layout), training=False))
