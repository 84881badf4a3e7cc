"""The activation curves as Keras on PyTorch computes them: the Keras column's functions
(the backend's own autodiff), re-exported."""

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from keras_impl.activations import activation_layers, layer_curves, activation_curves  # noqa: E402, I001

__all__ = ["activation_layers", "layer_curves", "activation_curves"]
