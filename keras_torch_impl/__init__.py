"""The Keras column on PyTorch (``keras-torch``): the very code of ``keras_impl``, run with
``KERAS_BACKEND=torch``, in a process of its own family (Keras reads its backend once, at
import, so it never shares a process with the ``keras`` column's TensorFlow).

Its modules re-export ``keras_impl``'s; what differs is what Keras on PyTorch is fed and
shows: numpy batches (the JAX column's pipeline, ``common.data.batches``, numpy alone), the
Keras listing with its backend line and without TensorFlow, and no deployment format. A
module that computes enters the family first (``columns.enter``): ``KERAS_BACKEND=torch``
before Keras loads, or one line why this process cannot (one that runs Keras on another
backend already). Importing the package loads nothing; the family's root, for what its
framework must do beside others, is PyTorch's (``common.columns``). Keras on torch would
import JAX (its Orbax checkpoint callback tries): the registry keeps it out
(``jax_impl.another_family_loads``), as it keeps TensorFlow's processes from it.
"""
