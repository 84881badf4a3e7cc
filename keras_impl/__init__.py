"""The Keras 3 backend (TensorFlow): spec -> ``keras`` model, ``tf.data`` pipeline, trainer.

Importing it quiets TensorFlow's start-up noise and turns oneDNN's reordered float
arithmetic off (override either variable to taste). If torch is already loaded in this
process, ``torch._dynamo`` is imported before TensorFlow: see the ``torch_impl`` package
docstring and DESIGN.md, "Hazards". A keras run that has not loaded torch never does.
"""

import importlib
import os
import sys

BACKEND = "keras"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "torch" in sys.modules:
    importlib.import_module("torch._dynamo")

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    from spec.errors import TwinspecError

    raise TwinspecError(f"keras_impl needs KERAS_BACKEND=tensorflow, but keras runs on {keras.backend.backend()}")
