"""The spec language in Keras 3: the Keras column's calls, re-exported (text: nothing here
imports Keras, whatever its backend)."""

from keras_impl.calls import Options, LAYERS, layer_calls, model_call, LOSSES, METRICS  # noqa: I001
from keras_impl.calls import OPTIMIZERS, optimizer_call, CLIPS  # noqa: I001

__all__ = ["Options", "LAYERS", "layer_calls", "model_call", "LOSSES", "METRICS", "OPTIMIZERS", "optimizer_call"]
__all__ += ["CLIPS"]
