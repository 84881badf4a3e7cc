"""The Keras 3 column: spec -> ``keras`` model, trainer on ``compile``/``fit``; on TensorFlow
(the ``keras`` column, fed by ``tf.data``), and the very same code on JAX and on torch (the
``keras-jax`` and ``keras-torch`` columns, thin packages fed by numpy batches).

Importing the package loads no framework (``run.py show`` reads ``keras_impl.listing``,
which is text); the modules that compute import Keras through ``keras_impl._keras``, which
enters the family of the backend Keras runs on first (``KERAS_BACKEND``, TensorFlow unless
the process says otherwise).
"""
