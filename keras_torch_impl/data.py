"""The book's data pipeline for Keras on PyTorch: numpy batches, as Keras users feed ``fit``
without TensorFlow. The pipeline is the JAX column's, re-exported: numpy alone
(``common.data.batches``; importing it loads no JAX), a seeded sampler, the flips, the
normalisation, the lockstep plan's batches with their dropout masks."""

from jax_impl.data import TrainingLoader, make_loaders, make_test_loader, numpy_batches  # noqa: I001

__all__ = ["TrainingLoader", "make_loaders", "make_test_loader", "numpy_batches"]
