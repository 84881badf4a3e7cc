"""Spec -> ``keras.Sequential`` whose layers carry the spec's layer names, made by instantiating
the calls of ``calls.py``, the very calls the listing prints."""

from __future__ import annotations

import math

from keras_impl._keras import keras  # Keras on this process's backend (its family entered first)
import numpy as np

from common.calls import instantiate, substitute
from keras_impl import semantics
from keras_impl.calls import Options, model_call
from spec.schema import ModelSpec

# What the calls' names mean: Keras as its users import it, and the helpers of semantics.py.
NAMESPACE = {
    "np": np,
    "keras": keras,
    "layers": keras.layers,
    **{name: getattr(semantics, name) for name in semantics.ADAPTATIONS},
}


def _options(model: ModelSpec, layout: str) -> Options:
    """TensorFlow's CPU Conv2D has no channels-first kernel (it runs only under XLA), so
    on TensorFlow without a GPU an ``nchw`` model with convolutions permutes once to
    channels-last at its input. Pooling, padding, batchnorm and flatten run channels-first
    natively, and so does every layer on JAX and on torch."""
    input_format = "channels_first" if layout == "nchw" else "channels_last"
    convolves = any(layer.kind == "conv2d" for layer in model.layers)
    permutes = layout == "nchw" and convolves and not _channels_first_convolutions()
    return Options(model.init, input_format, "channels_last" if permutes else input_format)


def _channels_first_convolutions() -> bool:
    """Whether Keras' backend convolves channels-first here: not TensorFlow on a CPU."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf  # loaded already: Keras runs on it

    return bool(tf.config.list_physical_devices("GPU"))


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> keras.Sequential:
    """Seed keras' generators (its counterpart of ``torch.manual_seed``), then make the layers.

    In ``lockstep`` mode the calls go through ``semantics.lockstep_calls``: a batchnorm keeps
    torch's running variance and a dropout applies the plan's masks (in a ``LockstepSequential``).
    """
    options = _options(model, layout)
    made = model_call(model, options)
    if mode == "lockstep":
        made = substitute(made, semantics.lockstep_calls(model, options.data_format))
    keras.utils.set_random_seed(model.seed)
    return instantiate(made, NAMESPACE)


def count_parameters(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def parameter_table(model: keras.Model) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(layer, tensor, shape, numel)`` for each trainable tensor, layer by layer, as
    ``model.summary()`` counts them; Keras' shapes (HWIO kernels, ``(in, out)`` dense)."""
    return [
        (layer.name, w.path.split("/")[-1], tuple(w.shape), math.prod(w.shape))
        for layer in model.layers
        for w in layer.trainable_weights
    ]
