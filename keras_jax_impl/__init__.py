"""The Keras column on JAX (``keras-jax``): ``keras_impl`` run with ``KERAS_BACKEND=jax``,
as ``keras_impl/_backends.py`` says. Its family's root is JAX's (``common.columns``).
"""
