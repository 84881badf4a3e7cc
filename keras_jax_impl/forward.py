"""One forward pass from given weights in Keras on JAX: the Keras column's, re-exported."""

from common import columns

columns.enter("keras-jax")  # KERAS_BACKEND=jax before Keras loads, or one line why this process cannot

from keras_impl.forward import initial_weights, forward  # noqa: E402, I001

__all__ = ["initial_weights", "forward"]
