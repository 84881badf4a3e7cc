"""The Keras 3 backend (TensorFlow): spec -> ``keras`` model, ``tf.data`` pipeline, trainer.

Importing the package loads neither Keras nor TensorFlow (``run.py show`` reads
``keras_impl.listing``, which is text); the modules that compute import them. It sets
what must be set before they load: TensorFlow's start-up noise quiet, oneDNN's reordered
float arithmetic off (override either variable to taste), and Keras on TensorFlow. If
torch is already loaded in this process, ``torch._dynamo`` is imported before TensorFlow;
if not, triton is hidden, so that a torch loaded later runs without it: see the
``torch_impl`` package docstring and DESIGN.md, "Hazards". A keras run that has not
loaded torch never does.
"""

import importlib
import os
import sys

BACKEND = "keras"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "torch" in sys.modules:
    if "tensorflow" not in sys.modules:
        importlib.import_module("torch._dynamo")
else:
    sys.modules.setdefault("triton", None)  # makes "import triton" fail cleanly: torch then runs without it

# Keras takes its backend from KERAS_BACKEND when it is set, so this is what it will run on
# (or, already imported, runs on), without importing it here.
_backend = sys.modules["keras"].backend.backend() if "keras" in sys.modules else os.environ["KERAS_BACKEND"]
if _backend != "tensorflow":
    from spec.errors import TwinspecError

    raise TwinspecError(f"keras_impl needs KERAS_BACKEND=tensorflow, but keras runs on {_backend}")
