"""The TensorFlow backend without Keras: spec -> ``tf.Module`` of ``tf.nn`` ops, ``tf.data``
pipeline, and a hand-written ``tf.GradientTape`` trainer.

Importing it quiets TensorFlow's start-up noise and turns oneDNN's reordered float
arithmetic off (override either variable to taste), as ``keras_impl`` does. If torch is
already loaded in this process, ``torch._dynamo`` is imported before TensorFlow: see the
``torch_impl`` package docstring and the design notes, "Hazards".

Keras stays out: ``import tensorflow`` eagerly imports ``keras.src.optimizers`` whenever
Keras is installed (to register Keras' optimizers for SavedModel; see the end of
``tensorflow/__init__.py``), which loads all of Keras. This column's SavedModel
(``weights.save_native_model``) holds ``tf.Module``s and ``tf.function``s, no Keras
optimizer, so while TensorFlow loads that one import is made to fail, which
TensorFlow tolerates; Keras, imported later in the same process (``keras_impl``), loads
as usual. If TensorFlow or Keras is loaded already, there is nothing to keep out.
"""

import importlib
import os
import sys

BACKEND = "tf"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if "torch" in sys.modules:
    importlib.import_module("torch._dynamo")

_KERAS_OPTIMIZERS = "keras.src.optimizers"
_keep_keras_out = "tensorflow" not in sys.modules and "keras" not in sys.modules
if _keep_keras_out:
    sys.modules[_KERAS_OPTIMIZERS] = None  # "import of keras.src.optimizers halted": TensorFlow moves on
try:
    import tensorflow  # noqa: F401
finally:
    if _keep_keras_out:
        del sys.modules[_KERAS_OPTIMIZERS]
