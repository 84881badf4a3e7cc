"""keras model <-> neutral weights on PyTorch: the Keras column's, re-exported (``model.keras``
as Keras saves it on any backend)."""

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from keras_impl.weights import NATIVE_FILE, export_weights, import_weights, save_native_model  # noqa: E402, I001

__all__ = ["NATIVE_FILE", "export_weights", "import_weights", "save_native_model"]
