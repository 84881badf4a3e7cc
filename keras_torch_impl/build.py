"""Spec -> ``keras.Sequential`` on PyTorch: the Keras column's build, re-exported."""

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from keras_impl.build import NAMESPACE, build_model, count_parameters, parameter_table  # noqa: E402, I001

__all__ = ["NAMESPACE", "build_model", "count_parameters", "parameter_table"]
