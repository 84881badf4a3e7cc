"""The TensorFlow column without Keras: spec -> ``tf.Module`` of ``tf.nn`` ops, ``tf.data``
pipeline, and a hand-written ``tf.GradientTape`` trainer; the root of the TensorFlow family
(``common.columns``), which the Keras column imports first.

Importing the package loads no TensorFlow (``run.py show`` reads ``tf_impl.listing``, which
is text); the modules that compute import it through ``tf_impl._tensorflow``. It sets what
must be set before TensorFlow loads: start-up noise quiet, and oneDNN's reordered float
arithmetic off (override either variable to taste). And whatever the other families must
do before TensorFlow loads, the registry asks of them now (``columns.another_family_loads``;
DESIGN.md, "Hazards"): none of them loads its framework for it.
"""

import os

from common import columns


def share_process() -> None:
    """Nothing: TensorFlow, loaded first or last, asks nothing of the other families' order."""


def another_family_loads() -> None:
    """Nothing, likewise."""


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
columns.another_family_loads("tensorflow")
