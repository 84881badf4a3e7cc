"""The JAX column: spec -> Flax NNX module, batches from numpy, Optax optimizer, a training
step compiled with ``jax.jit``; the root of the JAX family (``common.columns``).

Importing the package loads no JAX (``run.py show`` reads ``jax_impl.listing``, which is
text); the modules that compute import it. JAX computes in float32 here, as every column
does (``jax_enable_x64`` stays off). Its CPU threads are XLA's, set before JAX loads
(``common.threads.xla_flags``: one thread when the run starts under contention, as torch's).
"""


def share_process() -> None:
    """Nothing: JAX asks nothing of the other families' order."""


def another_family_loads() -> None:
    """Nothing, likewise."""
