"""The Keras 3 column (TensorFlow): spec -> ``keras`` model, ``tf.data`` pipeline, trainer.

Importing the package loads neither Keras nor TensorFlow (``run.py show`` reads
``keras_impl.listing``, which is text); the modules that compute import them. The
TensorFlow family's root, ``tf_impl``, is imported first, for what must be set before
TensorFlow loads; then Keras is put on TensorFlow.
"""

import os
import sys

import tf_impl  # noqa: F401  (the family's root: its settings, before TensorFlow loads)

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Keras takes its backend from KERAS_BACKEND when it is set, so this is what it will run on
# (or, already imported, runs on), without importing it here.
_backend = sys.modules["keras"].backend.backend() if "keras" in sys.modules else os.environ["KERAS_BACKEND"]
if _backend != "tensorflow":
    from spec.errors import TwinspecError

    raise TwinspecError(f"keras_impl needs KERAS_BACKEND=tensorflow, but keras runs on {_backend}")
