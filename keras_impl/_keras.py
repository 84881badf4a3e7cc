"""Keras, on the backend this process runs it on: what every computing module of the Keras
columns imports (as the tf column's import ``tf_impl._tensorflow``).

Keras reads its backend once, at import, from ``KERAS_BACKEND`` (TensorFlow here unless the
process says otherwise). Before it loads, the family whose environment names that backend
(``common.columns``: ``tensorflow``, ``keras-jax``, ``keras-torch``) is entered, or the
process refused with one line if it runs Keras on another backend already; its framework's
root is imported, for what must be set before the framework loads; and the other families'
roots are asked what they must do first (``columns.another_family_loads``: on JAX or torch,
TensorFlow is kept out, which Keras would import to seed it; on torch, JAX too). A backend
no family names is refused with one line.
"""

import importlib
import os
import sys

from common import columns
from spec.errors import TwinspecError

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# What Keras will run on (or, already imported, runs on).
BACKEND = sys.modules["keras"].backend.backend() if "keras" in sys.modules else os.environ["KERAS_BACKEND"]
FAMILY = next(
    (name for name, family in columns.FAMILIES.items() if dict(family.environment).get("KERAS_BACKEND") == BACKEND),
    None,
)
if FAMILY is None:
    raise TwinspecError(f"the Keras columns run Keras on tensorflow, jax or torch (KERAS_BACKEND), not {BACKEND}")
columns.enter(FAMILY)
importlib.import_module(columns.FAMILIES[FAMILY].package)  # its root's settings, before its framework loads
if "keras" not in sys.modules:
    columns.another_family_loads(FAMILY)

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = ["keras", "ops"]
