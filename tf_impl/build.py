"""Spec -> a ``tf.Module`` that owns the spec's ``tf.Variable``s and computes with ``tf`` ops,
made by running the statements of ``calls.py``, the very statements the listing prints.

Variables are named ``<layer>/<variable>`` (``conv1/kernel``, ``bn1/moving_mean``) and held as
``self.<layer>_<variable>`` (a batchnorm as its module, ``self.bn1``). Kernels are
TensorFlow's: ``(kh, kw, in, out)`` for a convolution, ``(in, out)`` for a dense layer,
whatever the data format.
"""

from __future__ import annotations

import math

from common.calls import execute, names, substitute
from spec.schema import ModelSpec
from tf_impl import semantics
from tf_impl._tensorflow import tf
from tf_impl.calls import Layer, Options, model_layers

# What the statements' names mean: TensorFlow, math, and the helpers of semantics.py.
NAMESPACE = {
    "tf": tf,
    "math": math,
    **{name: value for name, value in vars(semantics).items() if callable(value) and not name.startswith("_")},
}


class Model(tf.Module):
    """The spec's layers in order, each a few statements over ``x``: the listing's class, with
    its statements held as data. ``rng`` draws the initial weights, then dropout's masks
    (``set_seed`` resets it). ``input_format`` is how its inputs lie, ``data_format`` how its
    feature maps do."""

    def __init__(self, layers: list[Layer], seed: int, input_format: str, data_format: str) -> None:
        super().__init__(name="model")
        self.rng = tf.random.Generator.from_seed(seed)
        self.layers = layers
        self.input_format, self.data_format = input_format, data_format
        for layer in layers:
            execute(layer.variables, {**NAMESPACE, "self": self, "rng": self.rng})

    def __call__(self, x: tf.Tensor, training: bool = False, masks: tuple[tf.Tensor, ...] = ()) -> tf.Tensor:
        """``masks``: the plan's, one per planned dropout in order (lockstep, in training)."""
        planned = iter(masks)
        for layer in self.layers:
            mask = next(planned, None) if "mask" in names(layer.ops) else None
            x = self.apply(layer, x, training, mask)
        return x

    def apply(self, layer: Layer, x: tf.Tensor, training: bool = False, mask: tf.Tensor | None = None) -> tf.Tensor:
        """One layer's statements on ``x``."""
        namespace = {**NAMESPACE, "self": self, "x": x, "training": training, "mask": mask}
        execute(layer.ops, namespace)
        return namespace["x"]


def _options(model: ModelSpec, layout: str) -> tuple[str, Options]:
    """The input's format and the feature maps'. TensorFlow's CPU kernels for ``Conv2D``,
    ``MaxPool`` and ``AvgPool`` are channels-last only (channels-first ones run on a GPU),
    so without one an ``nchw`` model with any of them transposes once to channels-last at its
    input. Padding, batchnorm and flatten run channels-first natively."""
    input_format = "NCHW" if layout == "nchw" else "NHWC"
    needs_nhwc = any(layer.kind in ("conv2d", "maxpool2d", "avgpool2d") for layer in model.layers)
    channels_last = layout == "nchw" and needs_nhwc and not tf.config.list_physical_devices("GPU")
    return input_format, Options(model.init, "NHWC" if channels_last else input_format)


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> Model:
    """The model's ``rng`` seeded (this column's ``torch.manual_seed``), then each layer's
    variables drawn from it in order. In ``lockstep`` mode the statements go through
    ``semantics.lockstep_calls``: a batchnorm keeps torch's running variance, a dropout
    applies the plan's mask, and a loss on probabilities is torch's."""
    input_format, options = _options(model, layout)
    layers = model_layers(model, input_format, options)
    if mode == "lockstep":
        table = semantics.lockstep_calls(model, options.data_format)
        layers = [
            Layer(layer.name, substitute(layer.variables, table), substitute(layer.ops, table)) for layer in layers
        ]
    return Model(layers, model.seed, input_format, options.data_format)


def count_parameters(model: Model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_variables))


def parameter_table(model: Model) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(layer, tensor, shape, numel)`` for each trainable variable, layer by layer, named
    as ``model.trainable_variables`` names them (``conv1/kernel:0``), in the order each layer
    makes them; TensorFlow's shapes (HWIO kernels, ``(in, out)`` dense)."""
    return [
        (layer, tensor, tuple(v.shape), math.prod(v.shape))
        for v in _variables_in_order(model)
        if v.trainable
        for layer, tensor in [v.name.split(":")[0].split("/")]
    ]


def _variables_in_order(model: Model) -> list[tf.Variable]:
    """The model's variables in the order its layers make them (``tf.Module.variables`` sorts
    them by attribute name)."""
    ordered = []
    for layer in model.layers:
        for statement in layer.variables:
            if statement.target.startswith("self."):
                value = getattr(model, statement.target.removeprefix("self."))
                held = [value] if isinstance(value, tf.Variable) else list(vars(value).values())
                ordered += [v for v in held if isinstance(v, tf.Variable)]
    return ordered
