"""The activation curves as Keras on JAX computes them: the Keras column's functions
(the backend's own autodiff), re-exported."""

from common import columns

columns.enter("keras-jax")  # KERAS_BACKEND=jax before Keras loads, or one line why this process cannot

from keras_impl.activations import activation_layers, layer_curves, activation_curves  # noqa: E402, I001

__all__ = ["activation_layers", "layer_curves", "activation_curves"]
