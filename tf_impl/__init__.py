"""The TensorFlow backend without Keras: spec -> ``tf.Module`` of ``tf.nn`` ops, ``tf.data``
pipeline, and a hand-written ``tf.GradientTape`` trainer.

Importing the package loads no TensorFlow (``run.py show`` reads ``tf_impl.listing``, which
is text); the modules that compute import it through ``tf_impl._tensorflow``. It sets what
must be set before TensorFlow loads, as ``keras_impl`` does: start-up noise quiet, oneDNN's
reordered float arithmetic off (override either variable to taste). If torch is already
loaded in this process, ``torch._dynamo`` is imported before TensorFlow; if not, triton is
hidden, so that a torch loaded later runs without it: see the ``torch_impl`` package
docstring and DESIGN.md, "Hazards".
"""

import importlib
import os
import sys

BACKEND = "tf"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if "torch" in sys.modules:
    if "tensorflow" not in sys.modules:
        importlib.import_module("torch._dynamo")
else:
    sys.modules.setdefault("triton", None)  # makes "import triton" fail cleanly: torch then runs without it
