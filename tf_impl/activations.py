"""The spec language's activation functions as this column computes them: values and gradients.

For a lecture figure that overlays every framework's curves: each function is the layer a
compiled model uses, made by ``build.LAYERS`` from the spec's defaults (``spec.layers``:
leaky ReLU slope 0.01, PReLU initial slope 0.25). Its gradient comes from TensorFlow's
autodiff (``tf.GradientTape``), not from a formula, so that the figure shows what
training back-propagates.
"""

from __future__ import annotations

import numpy as np

from spec.layers import LAYER_KINDS
from spec.schema import LayerSpec
from tf_impl._tensorflow import tf
from tf_impl.build import LAYERS, Options

SLOPE = LAYER_KINDS["leaky_relu"].params["slope"][1]
INIT = LAYER_KINDS["prelu"].params["init"][1]


def activation_layers() -> dict[str, tf.Module]:
    """The activation layers, in the order of the figure's panels, with the spec's defaults."""
    options = Options("torch", "NHWC", "native", tf.random.Generator.from_seed(0), None)  # they draw nothing
    layers = {}
    for kind in ("sigmoid", "tanh", "relu", "leaky_relu", "prelu"):
        defaults = {name: default for name, (_, default) in LAYER_KINDS[kind].params.items()}
        layers[kind] = LAYERS[kind](LayerSpec(kind, kind, defaults, (1,), (1,), 0), options)
    return layers


def activation_curves(x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{name: (x, f(x), f'(x))}`` in float32, evaluated at the points ``x`` (1-D).

    ``x`` goes in as a batch of one-feature samples ``(N, 1)``. Each f(x_i) depends on x_i
    alone, so the gradient of the sum of the outputs is f'(x_i) at every point.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    curves = {}
    for name, layer in activation_layers().items():
        inputs = tf.convert_to_tensor(x[:, np.newaxis])
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs)
            total = tf.reduce_sum(outputs)  # inside the tape, which records only what runs in it
        gradient = tape.gradient(total, inputs)
        curves[name] = (x.copy(), outputs.numpy()[:, 0], gradient.numpy()[:, 0])
    return curves
