"""The JAX column: spec -> Flax NNX module, batches from numpy, Optax optimizer, a training
step compiled with ``jax.jit``; the root of the JAX family (``common.columns``).

Importing the package loads no JAX (``run.py show`` reads ``jax_impl.listing``, which is
text); the modules that compute import it. JAX computes in float32 here, as every column
does (``jax_enable_x64`` stays off). Its CPU threads are XLA's, set before JAX loads
(``common.threads``: one thread when the run starts under contention, as torch's).

Another family's process (DESIGN.md, "Hazards"): TensorFlow's import tries ``from jax import
jit`` (TFLite's converter from JAX, which twinspec never uses), 2.5 s of start-up in every
TensorFlow run when JAX is installed. The registry asks this root just before another
family's framework loads (:func:`another_family_loads`): JAX is kept out unless it is here
already, or this process will load it too (:func:`share_process`, which loads it first).
"""

import importlib
import sys


def share_process() -> None:
    """Before a process loads JAX and another family (the tests): JAX now, even if another
    family's root kept it out a moment ago (its framework has not loaded yet)."""
    if "jax" in sys.modules and sys.modules["jax"] is None:
        del sys.modules["jax"]
    importlib.import_module("jax")


def another_family_loads() -> None:
    """Just before another family's framework loads, in a process that may never load JAX:
    unless JAX is here, ``import jax`` fails cleanly (TensorFlow then runs without its JAX
    converter)."""
    sys.modules.setdefault("jax", None)
