"""The spec language in Keras 3: the Keras column's calls, re-exported (text: nothing here
imports Keras, whatever its backend)."""

from keras_impl.calls import (
    Options,
    LAYERS,
    layer_calls,
    model_call,
    LOSSES,
    METRICS,
    OPTIMIZERS,
    optimizer_call,
    CLIPS,
)

__all__ = [
    "Options",
    "LAYERS",
    "layer_calls",
    "model_call",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "optimizer_call",
    "CLIPS",
]
