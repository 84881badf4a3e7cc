"""The TensorFlow column without Keras: spec -> ``tf.Module`` of ``tf.nn`` ops, ``tf.data``
pipeline, and a hand-written ``tf.GradientTape`` trainer; the root of the TensorFlow family
(``common.columns``), which the Keras column imports first.

Importing the package loads no TensorFlow (``run.py show`` reads ``tf_impl.listing``, which
is text); the modules that compute import it through ``tf_impl._tensorflow``, which asks
the other families, just before TensorFlow loads, what they must do first
(``columns.another_family_loads``; DESIGN.md, "Hazards"), as ``keras_impl`` does before
Keras loads on TensorFlow. This root sets what must be set before TensorFlow loads:
start-up noise quiet, and oneDNN's reordered float arithmetic off (override either variable
to taste). It asks nothing of the others itself: the registry imports every root when a
framework loads (Keras on JAX's process too, which must not be kept from JAX for TensorFlow).
"""

import os
import sys


def share_process() -> None:
    """Before a process loads TensorFlow and another family (the tests): TensorFlow may load,
    even if this root kept it out a moment ago (:func:`another_family_loads`). Loaded first
    or last, it asks nothing of the other families' order."""
    if "tensorflow" in sys.modules and sys.modules["tensorflow"] is None:
        del sys.modules["tensorflow"]


def another_family_loads() -> None:
    """Just before another family's framework loads, in a process that may never load
    TensorFlow: unless TensorFlow is here, ``import tensorflow`` fails cleanly. Keras on JAX
    or torch imports it if it can (``keras.utils.set_random_seed`` seeds TensorFlow's
    generator too, for ``tf.data``): seconds of start-up, and TensorFlow in a JAX or torch
    process, for nothing its columns use."""
    sys.modules.setdefault("tensorflow", None)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
