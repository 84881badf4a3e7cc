"""The Keras column on JAX (``keras-jax``): the very code of ``keras_impl``, run with
``KERAS_BACKEND=jax``, in a process of its own family (Keras reads its backend once, at
import, so it never shares a process with the ``keras`` column's TensorFlow).

Its modules re-export ``keras_impl``'s; what differs is what Keras on JAX is fed and
shows: numpy batches (the JAX column's pipeline, ``common.data.batches``, numpy alone), the
Keras listing with its backend line and without TensorFlow, and no deployment format. A
module that computes enters the family first (``columns.enter``): ``KERAS_BACKEND=jax``
before Keras loads, or one line why this process cannot (one that runs Keras on another
backend already). Importing the package loads nothing; the family's root, for what its
framework must do beside others, is JAX's (``common.columns``).
"""
