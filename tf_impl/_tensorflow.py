"""TensorFlow, without Keras: what every computing module of this column imports.

``import tensorflow`` eagerly imports ``keras.src.optimizers`` whenever Keras is installed
(to register Keras' optimizers for SavedModel; see the end of ``tensorflow/__init__.py``),
which loads all of Keras. This column's SavedModel (``weights.save_native_model``) holds
``tf.Module``s and ``tf.function``s, no Keras optimizer, so while TensorFlow loads here
that one import is made to fail,
which TensorFlow tolerates; Keras, imported later in the same process (``keras_impl``),
loads as usual. If TensorFlow or Keras is loaded already, there is nothing to keep out.

Before that: the family's environment (Keras, which TensorFlow's import reaches, on
TensorFlow), and what the other families must do before TensorFlow loads
(``columns.enter``, ``columns.another_family_loads``; DESIGN.md, "Hazards").
"""

import sys

from common import columns

columns.enter("tensorflow")
columns.another_family_loads("tensorflow")

_KERAS_OPTIMIZERS = "keras.src.optimizers"
_keep_keras_out = "tensorflow" not in sys.modules and "keras" not in sys.modules
if _keep_keras_out:
    sys.modules[_KERAS_OPTIMIZERS] = None  # "import of keras.src.optimizers halted": TensorFlow moves on
try:
    import tensorflow as tf
finally:
    if _keep_keras_out:
        del sys.modules[_KERAS_OPTIMIZERS]

__all__ = ["tf"]
