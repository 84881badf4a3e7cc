"""The book's data pipeline in ``tf.data``: the TensorFlow family's, re-exported. Keras users
feed ``fit`` a ``tf.data.Dataset``; the Keras column trains on the very pipeline (sampler,
flips, normalisation, plan) the tf column does."""

from tf_impl.data import TrainingLoader, make_loaders, make_test_loader, numpy_batches  # noqa: I001  (tf's order)

__all__ = ["TrainingLoader", "make_loaders", "make_test_loader", "numpy_batches"]
