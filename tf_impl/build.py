"""Spec -> a ``tf.Module`` of ``tf.nn`` ops whose layers carry the spec's layer names.

Every layer is a small ``tf.Module``: its ``tf.Variable``s are named ``<layer>/<variable>``
(``conv1/kernel``, ``bn1/moving_mean``) and its ``__call__`` is one or two ``tf`` ops.
Kernels are TensorFlow's: ``(kh, kw, in, out)`` for a convolution, ``(in, out)`` for a
dense layer, whatever the data format. ``tf_impl/listing.py`` writes the same ops out as
one ``tf.Module`` class, and copies the helpers it needs (``BatchNorm`` here,
``semantics.pad2d``) as they stand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from spec.layers import fan_in
from spec.schema import LayerSpec, ModelSpec
from tf_impl._tensorflow import tf
from tf_impl.semantics import pad2d, planned_dropout, torch_running_variance


class Options(NamedTuple):
    """What every layer constructor needs besides its spec."""

    init: str  # torch or keras
    data_format: str  # NHWC or NCHW: how the feature maps lie
    mode: str  # native, or lockstep: torch's semantics where TensorFlow's differ
    generator: tf.random.Generator  # the model's: it draws the initial weights, then dropout's masks
    model: ModelSpec | None  # the whole spec, for what a layer's neighbours decide (a flatten's feature order)


def _initial(layer: LayerSpec, options: Options, shape: list[int]) -> tuple[tf.Tensor, tf.Tensor | None]:
    """A kernel, then a bias if the layer has one (``shape[-1]`` units), drawn in that order.
    ``torch``: both uniform within 1/sqrt(fan_in) (kaiming-uniform with a = sqrt 5);
    ``keras``: glorot-uniform and zeros."""
    fan, units = fan_in(layer.kind, layer.in_shape, layer.params), shape[-1]
    if options.init == "torch":
        bound = 1 / math.sqrt(fan)
        kernel = options.generator.uniform(shape, -bound, bound)
        return kernel, options.generator.uniform([units], -bound, bound) if layer.params["bias"] else None
    limit = math.sqrt(6 / (fan + units * math.prod(shape[:-2])))  # fan_out: units times the window
    return options.generator.uniform(shape, -limit, limit), tf.zeros([units]) if layer.params["bias"] else None


def _spatial_axes(data_format: str) -> tuple[int, int]:
    return (2, 3) if data_format == "NCHW" else (1, 2)


def _conv_padding(padding: int | str, data_format: str) -> str | list[list[int]]:
    """VALID, SAME, or torch's number of pixels as TensorFlow's explicit padding."""
    if padding in ("valid", 0):
        return "VALID"
    if padding == "same":
        return "SAME"
    return [[padding, padding] if axis in _spatial_axes(data_format) else [0, 0] for axis in range(4)]


# A fused ``activation`` (Keras' ``activation=``), applied inside the layer, after its bias.
FUSED: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {"relu": tf.nn.relu, "softmax": tf.nn.softmax}


def _fused(layer: LayerSpec) -> Callable[[tf.Tensor], tf.Tensor]:
    return FUSED[layer.activation] if layer.activation is not None else tf.identity


class Conv2D(tf.Module):
    """``tf.nn.conv2d`` plus bias, then its fused activation, if any. torch pads by a number
    of pixels: TensorFlow's explicit padding."""

    def __init__(self, layer: LayerSpec, options: Options) -> None:
        super().__init__(name=layer.name)
        p = layer.params
        kernel, bias = _initial(layer, options, [p["kernel"], p["kernel"], layer.in_shape[0], p["filters"]])
        with self.name_scope:
            self.kernel = tf.Variable(kernel, name="kernel")
            self.bias = None if bias is None else tf.Variable(bias, name="bias")
        self.stride, self.data_format = p["stride"], options.data_format
        self.padding = _conv_padding(p["padding"], self.data_format)
        self.activation = _fused(layer)

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = tf.nn.conv2d(x, self.kernel, self.stride, self.padding, data_format=self.data_format)
        x = x if self.bias is None else tf.nn.bias_add(x, self.bias, data_format=self.data_format)
        return self.activation(x)


class Dense(tf.Module):
    """``tf.matmul`` plus bias, then its fused activation, if any."""

    def __init__(self, layer: LayerSpec, options: Options) -> None:
        super().__init__(name=layer.name)
        kernel, bias = _initial(layer, options, [layer.in_shape[0], layer.params["units"]])
        with self.name_scope:
            self.kernel = tf.Variable(kernel, name="kernel")
            self.bias = None if bias is None else tf.Variable(bias, name="bias")
        self.activation = _fused(layer)

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = tf.matmul(x, self.kernel)
        return self.activation(x if self.bias is None else x + self.bias)


class BatchNorm(tf.Module):
    """Batch normalisation with its own moving statistics, as torch keeps them: ``momentum``
    weighs the new batch. ``averaged`` is what the moving variance averages: by default the
    biased batch variance that ``tf.nn.moments`` gives and normalises with."""

    def __init__(self, size, axes, momentum, eps, shape=(-1,), averaged=None, name=None) -> None:
        super().__init__(name=name)
        self.axes, self.momentum, self.eps, self.shape = list(axes), momentum, eps, list(shape)
        self.averaged = averaged or (lambda variance, count: variance)
        with self.name_scope:
            ones, zeros = tf.ones([size]), tf.zeros([size])
            self.gamma = tf.Variable(ones, name="gamma")
            self.beta = tf.Variable(zeros, name="beta")
            self.moving_mean = tf.Variable(zeros, trainable=False, name="moving_mean")
            self.moving_variance = tf.Variable(ones, trainable=False, name="moving_variance")

    def __call__(self, x, training=False):
        if training:
            mean, variance = tf.nn.moments(x, self.axes)
            count = tf.cast(tf.size(x) // tf.size(mean), x.dtype)  # values per feature in the batch
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * (1 - m) + mean * m)
            averaged = self.averaged(variance, count)
            self.moving_variance.assign(self.moving_variance * (1 - m) + averaged * m)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        mean, variance = tf.reshape(mean, self.shape), tf.reshape(variance, self.shape)
        beta, gamma = tf.reshape(self.beta, self.shape), tf.reshape(self.gamma, self.shape)
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, self.eps)


def _batchnorm(layer: LayerSpec, options: Options) -> BatchNorm:
    """Statistics per channel (all axes but the channels') or per feature; in lockstep the
    moving variance is torch's (``semantics.torch_running_variance``)."""
    if len(layer.in_shape) == 1:
        axes, shape = [0], [-1]
    elif options.data_format == "NCHW":
        axes, shape = [0, 2, 3], [-1, 1, 1]
    else:
        axes, shape = [0, 1, 2], [-1]
    p = layer.params
    averaged = torch_running_variance if options.mode == "lockstep" else None
    return BatchNorm(layer.in_shape[0], axes, p["momentum"], p["eps"], shape, averaged, name=layer.name)


class Op(tf.Module):
    """A layer without variables: one function of its input."""

    def __init__(self, name: str, function: Callable[[tf.Tensor], tf.Tensor]) -> None:
        super().__init__(name=name)
        self.function = function

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.function(x)


class PReLU(tf.Module):
    """torch's PReLU: one learned slope for all features."""

    def __init__(self, layer: LayerSpec, options: Options) -> None:
        super().__init__(name=layer.name)
        with self.name_scope:
            self.alpha = tf.Variable([float(layer.params["init"])], name="alpha")

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return tf.where(x > 0, x, self.alpha * x)  # at 0, torch's gradient: the slope


class Dropout(tf.Module):
    """``tf.nn.dropout``'s stateless form, its seeds drawn from the model's generator: a run
    is reproducible from the seed, and a checkpoint can save where the masks stand. In
    lockstep the trainer hands it the plan's mask instead (``semantics.planned_dropout``)."""

    def __init__(self, layer: LayerSpec, options: Options) -> None:
        super().__init__(name=layer.name)
        self.rate, self.generator = layer.params["p"], options.generator
        if len(layer.in_shape) == 3:  # the plan's masks are in torch's order: where this layer's is not
            self.channels_last_map = layer.in_shape if options.data_format == "NHWC" else None
        else:
            self.channels_last_map = options.model.flattened_from(layer.name)

    def __call__(self, x: tf.Tensor, training: bool = False, mask: tf.Tensor | None = None) -> tf.Tensor:
        if not training:
            return x
        if mask is not None:
            return planned_dropout(x, mask, self.rate, self.channels_last_map)
        return tf.nn.experimental.stateless_dropout(x, self.rate, seed=self.generator.make_seeds(1)[:, 0])


def _flatten(layer: LayerSpec, options: Options) -> Op:
    """Features in H, W, C order in both data formats (torch's are C, H, W: ``weights`` reorders)."""
    size = math.prod(layer.in_shape)
    if options.data_format == "NCHW" and len(layer.in_shape) == 3:
        return Op(layer.name, lambda x: tf.reshape(tf.transpose(x, [0, 2, 3, 1]), [-1, size]))
    return Op(layer.name, lambda x: tf.reshape(x, [-1, size]))


def _pool(pool: Callable, layer: LayerSpec, options: Options) -> Op:
    kernel, stride = layer.params["kernel"], layer.params["stride"]
    return Op(layer.name, lambda x: pool(x, kernel, stride, "VALID", data_format=options.data_format))


def _pad2d(layer: LayerSpec, options: Options) -> Op:
    padding, mode, axes = layer.params["padding"], layer.params["mode"], _spatial_axes(options.data_format)
    return Op(layer.name, lambda x: pad2d(x, padding, mode, axes))


def _leaky_relu(layer: LayerSpec, options: Options) -> Op:
    slope = layer.params["slope"]
    return Op(layer.name, lambda x: tf.nn.leaky_relu(x, alpha=slope))


LAYERS: dict[str, Callable[[LayerSpec, Options], tf.Module]] = {
    "conv2d": Conv2D,
    "maxpool2d": lambda layer, options: _pool(tf.nn.max_pool2d, layer, options),
    "avgpool2d": lambda layer, options: _pool(tf.nn.avg_pool2d, layer, options),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": _flatten,
    "linear": Dense,
    "dropout": Dropout,
    "relu": lambda layer, options: Op(layer.name, tf.nn.relu),
    "leaky_relu": _leaky_relu,
    "prelu": PReLU,
    "tanh": lambda layer, options: Op(layer.name, tf.tanh),
    "sigmoid": lambda layer, options: Op(layer.name, tf.sigmoid),
    "softmax": lambda layer, options: Op(layer.name, tf.nn.softmax),
    "log_softmax": lambda layer, options: Op(layer.name, tf.nn.log_softmax),
}


class Model(tf.Module):
    """The spec's layers in order; ``generator`` draws dropout's masks (``set_seed`` resets it).
    ``input_format`` is how its inputs lie, ``data_format`` how its feature maps do."""

    def __init__(
        self, name: str, layers: list[tf.Module], generator: tf.random.Generator, input_format: str, data_format: str
    ) -> None:
        super().__init__(name=name)
        self.layers = layers
        self.generator = generator
        self.input_format, self.data_format = input_format, data_format

    def __call__(self, x: tf.Tensor, training: bool = False, masks: tuple[tf.Tensor, ...] = ()) -> tf.Tensor:
        """``masks``: the plan's, one per dropout layer in order (lockstep); none: dropout draws its own."""
        planned = iter(masks)
        for layer in self.layers:
            x = layer(x, training, next(planned)) if masks and isinstance(layer, Dropout) else layer(x, training)
        return x

    def layer(self, name: str) -> tf.Module:
        return next(layer for layer in self.layers if layer.name == name)


def _permutes_nchw(model: ModelSpec, layout: str) -> bool:
    """TensorFlow's CPU kernels for ``Conv2D``, ``MaxPool`` and ``AvgPool`` are channels-last
    only (channels-first ones run on a GPU), so without one an ``nchw`` model with any of
    them transposes once to channels-last at its input. (Keras transposes around each
    pooling layer instead.) Padding, batchnorm and flatten run channels-first natively."""
    needs_nhwc = any(layer.kind in ("conv2d", "maxpool2d", "avgpool2d") for layer in model.layers)
    return layout == "nchw" and needs_nhwc and not tf.config.list_physical_devices("GPU")


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> Model:
    """Seed the model's generator (this column's ``torch.manual_seed``), then make the
    layers in order, each drawing its initial weights from it.

    In ``lockstep`` mode a batchnorm keeps torch's running variance.
    """
    generator = tf.random.Generator.from_seed(model.seed)
    input_format = data_format = "NCHW" if layout == "nchw" else "NHWC"
    layers: list[tf.Module] = []
    if _permutes_nchw(model, layout):
        layers.append(Op("nchw_to_nhwc", lambda x: tf.transpose(x, [0, 2, 3, 1])))
        data_format = "NHWC"
    options = Options(model.init, data_format, mode, generator, model)
    layers += [LAYERS[layer.kind](layer, options) for layer in model.layers]
    return Model("model", layers, generator, input_format, data_format)


def count_parameters(model: Model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_variables))


def parameter_table(model: Model) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(layer, tensor, shape, numel)`` for each trainable variable, layer by layer, named
    as ``model.trainable_variables`` names them (``conv1/kernel:0``), in the order each layer
    makes them (``tf.Module`` lists its own by attribute name: bias before kernel);
    TensorFlow's shapes (HWIO kernels, ``(in, out)`` dense)."""
    return [
        (layer.name, v.name.split("/")[-1].split(":")[0], tuple(v.shape), math.prod(v.shape))
        for layer in model.layers
        for v in vars(layer).values()
        if isinstance(v, tf.Variable) and v.trainable
    ]
