"""What plain TensorFlow needs to compute what torch computes, in a few ``tf`` ops each.

Without Keras, TensorFlow has no loss functions (``tf.losses`` is Keras'), no negative
log-likelihood, no replicate padding, and its batch statistics are the biased ones. The
losses here are the math ``fit`` hides; ``keras_impl/semantics.py`` holds Keras'
counterparts. The listing (``run.py show --backend tf``) prints these functions' own source.
"""

from __future__ import annotations

import math

import numpy as np

from common.calls import Call, Name, Substitutions, call
from common.replay.plan import dropout_scale
from spec.schema import ModelSpec
from tf_impl._tensorflow import tf

ADAPTATIONS: dict[str, str] = {
    "bce, bce_logits, cross_entropy, cross_entropy_probs": (
        "the losses, in tf ops: TensorFlow without Keras has none (native and lockstep)"
    ),
    "nll_loss": "torch's NLLLoss (native and lockstep)",
    "training_batches": (
        "torch's samplers in tf.data, drawn anew each epoch: balanced with replacement"
        " (WeightedRandomSampler), a permutation, per-image flips (native)"
    ),
    "SGD, Adam, AdamW, RMSprop": (
        "the optimizers, in assign ops, as torch computes them: TensorFlow without Keras has none"
    ),
    "BatchNorm": "batch normalisation with moving statistics, torch's momentum: TensorFlow has only the op",
    "prelu": "torch's PReLU, one learned slope (native and lockstep)",
    "grouped_conv2d": "a grouped convolution, a convolution per group: TensorFlow's CPU has no gradient for one",
    "pad2d": "torch's padding modes around tf.pad: reflect, replicate, circular, constant (native and lockstep)",
    "torch_bce_loss": "BCE on probabilities with torch's log clamp at -100 (lockstep)",
    "torch_probs_nll_loss": "cross-entropy on probabilities as torch computes it, NLL of their clamped log (lockstep)",
    "TorchBatchNorm": "torch's unbiased running variance (lockstep)",
    "planned_dropout": "dropout with the plan's masks, torch's own draws (lockstep)",
}


# The names and calls lockstep replaces with torch's semantics (``common.calls.substitute``):
# the functions and classes below marked lockstep.
LOCKSTEP: Substitutions = {
    "bce": lambda _: Name("torch_bce_loss"),
    "cross_entropy_probs": lambda _: Name("torch_probs_nll_loss"),
    "BatchNorm": lambda norm: Call("TorchBatchNorm", norm.args, norm.kwargs),
}


def lockstep_calls(model: ModelSpec, data_format: str) -> Substitutions:
    """:data:`LOCKSTEP`, and for ``model``, with feature maps in ``data_format``, its dropouts
    as planned ones, each taking its layer's mask, ``mask``, from the batch."""

    def planned(dropout: Call) -> Call:
        layer = model.layer(dict(dropout.kwargs)["name"])
        if (
            len(layer.in_shape) == 3
        ):  # the plan's masks are in torch's order: where this layer's is not
            channels_last_map = layer.in_shape if data_format == "NHWC" else None
        else:
            channels_last_map = model.flattened_from(layer.name)
        return call(
            "planned_dropout", dropout.args[0], Name("mask"), dropout.args[1], channels_last_map
        )

    return {**LOCKSTEP, "tf.nn.experimental.stateless_dropout": planned}


def bce(y: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy on probabilities, as ``tf.compat.v1.losses.log_loss`` computes it:
    an epsilon of 1e-7 inside each log keeps it finite."""
    epsilon = 1e-7
    log_p, log_not_p = tf.math.log(probs + epsilon), tf.math.log(1 - probs + epsilon)
    return -tf.reduce_mean(y * log_p + (1 - y) * log_not_p)


def bce_logits(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy on logits: ``max(z, 0) - z * y + log(1 + exp(-|z|))``, stably."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))


def cross_entropy(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy on logits against class indices: torch's ``CrossEntropyLoss``."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))


def cross_entropy_probs(y: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
    """Cross-entropy on probabilities (a softmax output) against class indices: minus the log
    of the true class's probability, clipped to [1e-7, 1 - 1e-7] first, as TensorFlow's
    ``keras.backend.sparse_categorical_crossentropy`` clips them, so the log stays finite."""
    epsilon = 1e-7
    classes = tf.cast(tf.reshape(y, [-1]), tf.int32)
    true_probs = tf.gather(probs, classes, axis=1, batch_dims=1)
    return -tf.reduce_mean(tf.math.log(tf.clip_by_value(true_probs, epsilon, 1 - epsilon)))


def pad2d(x: tf.Tensor, padding, mode: str, spatial_axes=(1, 2), value: float = 0.0) -> tf.Tensor:
    """torch's padding modes: ``tf.pad`` pads with zeros or a constant, or reflects;
    replicate repeats the edge pixels and circular wraps around, by indices. ``padding``:
    pixels on every side, or (height, width)."""
    pads = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    pads = dict(zip(spatial_axes, pads))  # axis -> pixels
    if mode in ("replicate", "circular"):
        for axis, p in pads.items():
            size = x.shape[axis]
            index = tf.range(-p, size + p)
            index = tf.clip_by_value(index, 0, size - 1) if mode == "replicate" else index % size
            x = tf.gather(x, index, axis=axis)
        return x
    widths = [[pads.get(axis, 0)] * 2 for axis in range(4)]
    mode = "REFLECT" if mode == "reflect" else "CONSTANT"
    return tf.pad(x, widths, mode=mode, constant_values=value)


def grouped_conv2d(
    x, kernel, groups: int, strides, padding, dilations=1, data_format: str = "NHWC"
) -> tf.Tensor:
    """torch's grouped convolution: each group of input channels convolved with its group of
    filters, the outputs side by side. (``tf.nn.conv2d`` computes one forward, but TensorFlow's
    CPU kernels have no gradient for it.)"""
    axis = 3 if data_format == "NHWC" else 1
    parts = zip(tf.split(x, groups, axis=axis), tf.split(kernel, groups, axis=3))
    convolve = lambda part, filters: tf.nn.convolution(  # noqa: E731
        part, filters, strides, padding, dilations=dilations, data_format=data_format
    )
    return tf.concat([convolve(part, filters) for part, filters in parts], axis=axis)


def planned_dropout(
    x: tf.Tensor, mask: tf.Tensor, rate: float, channels_last_map: tuple[int, int, int] | None
) -> tf.Tensor:
    """torch's dropout with torch's mask, from the plan: ``x * mask / (1 - p)``, the scale in
    float32 as torch rounds it. The mask is in torch's order, ``(N, C, H, W)`` or ``(N, F)``;
    ``channels_last_map``, a ``(C, H, W)``, says ``x`` holds that map channels-last, as a
    feature map or flattened (H, W, C). Lockstep only."""
    mask = tf.cast(mask, x.dtype)
    if channels_last_map is not None:
        mask = tf.reshape(
            tf.transpose(tf.reshape(mask, [-1, *channels_last_map]), [0, 2, 3, 1]), tf.shape(x)
        )
    return x * (mask * float(dropout_scale(rate)))


def nll_loss(y: tf.Tensor, log_probs: tf.Tensor) -> tf.Tensor:
    """torch's ``NLLLoss``: minus the log-probability of the true class, averaged."""
    classes = tf.cast(tf.reshape(y, [-1]), tf.int32)
    return -tf.reduce_mean(tf.gather(log_probs, classes, axis=1, batch_dims=1))


def torch_bce_loss(y: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
    """torch's ``BCELoss``: on the probabilities themselves, each log clamped at -100
    (lockstep; natively ``bce`` adds TensorFlow's epsilon instead)."""
    return -tf.reduce_mean(y * _clamped_log(probs) + (1.0 - y) * _clamped_log(1.0 - probs))


TINY = 1.1754944e-38  # the smallest normal float32, torch.finfo(torch.float32).tiny


def torch_probs_nll_loss(y: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
    """torch's cross-entropy on probabilities (``torch_impl.semantics.ProbsNLLLoss``): minus
    the log of the true class's probability, clamped at the smallest normal float, averaged
    (lockstep; natively ``cross_entropy_probs`` clips at 1e-7 instead)."""
    classes = tf.cast(tf.reshape(y, [-1]), tf.int32)
    true_probs = tf.gather(probs, classes, axis=1, batch_dims=1)
    return -tf.reduce_mean(tf.math.log(tf.maximum(true_probs, TINY)))


def _clamped_log(p: tf.Tensor) -> tf.Tensor:
    """``max(log p, -100)``, with a zero gradient (not 0 * inf = NaN) where p is exactly 0:
    a saturated sigmoid gives exactly 0 or 1 in float32."""
    positive = p > 0
    return tf.where(positive, tf.maximum(tf.math.log(tf.where(positive, p, 1.0)), -100.0), -100.0)


class SGD:
    """Stochastic gradient descent as torch writes it, in ``assign`` ops: ``weight_decay *
    w`` joins the gradient (L2); with momentum the velocity is ``v = momentum * v + g`` and
    the step ``lr * v``; nesterov steps by ``lr * (g + momentum * v)``. The rate and the
    momentum are variables, which a schedule changes without tracing the step again."""

    def __init__(
        self,
        params: list[tf.Variable],
        learning_rate: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        self.learning_rate = tf.Variable(learning_rate, trainable=False)
        self.momentum = tf.Variable(momentum, trainable=False)
        self.nesterov, self.weight_decay = nesterov, weight_decay
        self.with_momentum = momentum > 0  # velocities only with momentum, as torch keeps buffers
        zeros = [tf.zeros_like(p) for p in self.params] if self.with_momentum else []
        self.velocities = [tf.Variable(value, trainable=False) for value in zeros]
        self.variables = [self.learning_rate, self.momentum, *self.velocities]  # its state

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        for i, (param, gradient) in enumerate(zip(self.params, gradients)):
            if self.weight_decay:
                gradient = gradient + self.weight_decay * param
            if self.with_momentum:
                velocity = self.velocities[i]
                velocity.assign(self.momentum * velocity + gradient)
                gradient = gradient + self.momentum * velocity if self.nesterov else velocity
            param.assign_sub(self.learning_rate * gradient)


class Adam:
    """Adam as Kingma and Ba's Algorithm 1 writes it, and torch computes it, in ``assign``
    ops: ``eps`` is added to the bias-corrected ``sqrt(v)``. (TensorFlow's own kernel,
    ``ApplyAdam``, adds it to the raw one and folds the corrections into the step size.)
    ``weight_decay * w`` joins the gradient (L2), as torch's Adam adds it."""

    def __init__(
        self,
        params: list[tf.Variable],
        learning_rate: float,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        self.learning_rate = tf.Variable(learning_rate, trainable=False)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.weight_decay = weight_decay
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        # each gradient's moving first moment (its mean) and second (its uncentred variance)
        self.m = [tf.Variable(tf.zeros_like(p), trainable=False) for p in self.params]
        self.v = [tf.Variable(tf.zeros_like(p), trainable=False) for p in self.params]
        self.variables = [self.learning_rate, self.iterations, *self.m, *self.v]

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        # 1 - beta**t, which torch takes in float64: in float32 it cancels (1 - 0.999 keeps 4
        # digits of 8), -expm1(t log beta) keeps them
        correction_1 = -tf.math.expm1(t * math.log(self.beta_1))
        correction_2 = -tf.math.expm1(t * math.log(self.beta_2))
        for param, gradient, m, v in zip(self.params, gradients, self.m, self.v):
            gradient = self._decayed(param, gradient)
            m.assign(m + (gradient - m) * (1 - self.beta_1))  # torch's lerp_(grad, 1 - beta1)
            v.assign(v * self.beta_2 + gradient * gradient * (1 - self.beta_2))
            denominator = tf.sqrt(v) / tf.sqrt(correction_2) + self.epsilon
            param.assign_sub(self.learning_rate / correction_1 * (m / denominator))

    def _decayed(self, param: tf.Variable, gradient: tf.Tensor) -> tf.Tensor:
        return gradient + self.weight_decay * param if self.weight_decay else gradient


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch's ``AdamW``: each weight shrinks by ``lr *
    weight_decay`` of itself before Adam's step, which the decay does not enter."""

    def __init__(self, *args, weight_decay: float = 1e-2, **kwargs) -> None:
        super().__init__(*args, weight_decay=weight_decay, **kwargs)  # torch's default decay

    def _decayed(self, param: tf.Variable, gradient: tf.Tensor) -> tf.Tensor:
        param.assign(param * (1 - self.learning_rate * self.weight_decay))  # as torch
        return gradient


class RMSprop:
    """RMSprop as torch computes it, in ``assign`` ops: ``eps`` is added to ``sqrt(v)``
    (Keras adds it inside the root), ``weight_decay * w`` joins the gradient (L2), and with
    momentum the buffer ``b = momentum * b + g / (sqrt(v) + eps)`` steps by ``lr * b``."""

    def __init__(
        self,
        params: list[tf.Variable],
        learning_rate: float = 1e-2,
        rho: float = 0.99,
        epsilon: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        self.learning_rate = tf.Variable(learning_rate, trainable=False)
        self.rho, self.epsilon = rho, epsilon
        self.momentum, self.weight_decay = momentum, weight_decay
        # each gradient's moving uncentred variance, and with momentum the steps' buffer
        self.v = [tf.Variable(tf.zeros_like(p), trainable=False) for p in self.params]
        zeros = [tf.zeros_like(p) for p in self.params] if momentum else []
        self.buffers = [tf.Variable(value, trainable=False) for value in zeros]
        self.variables = [self.learning_rate, *self.v, *self.buffers]

    def apply_gradients(self, gradients: list[tf.Tensor]) -> None:
        for i, (param, gradient, v) in enumerate(zip(self.params, gradients, self.v)):
            if self.weight_decay:
                gradient = gradient + self.weight_decay * param
            v.assign(v * self.rho + gradient * gradient * (1 - self.rho))
            step = gradient / (tf.sqrt(v) + self.epsilon)
            if self.momentum:
                self.buffers[i].assign(self.momentum * self.buffers[i] + step)
                step = self.buffers[i]
            param.assign_sub(self.learning_rate * step)


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


class TorchBatchNorm(BatchNorm):
    """``BatchNorm`` whose moving variance averages torch's: the batch variance with Bessel's
    correction, ``n / (n - 1)``. Both normalise the batch with the biased one (lockstep)."""

    def __init__(self, size, axes, momentum, eps, shape=(-1,), name=None) -> None:
        super().__init__(
            size,
            axes,
            momentum,
            eps,
            shape,
            lambda variance, count: variance * count / (count - 1),
            name,
        )


def prelu(x: tf.Tensor, alpha: tf.Variable) -> tf.Tensor:
    """torch's PReLU: one learned slope for all features; at 0, torch's gradient (the slope)."""
    return tf.where(x > 0, x, alpha * x)


def training_batches(x, y, batch_size, sampler, hflip, seed, width_axis=2):
    """The training images ``x`` (float32, normalised) and labels ``y`` as ``tf.data`` batches,
    drawn anew every epoch from a ``tf.random.Generator`` seeded with ``seed``: ``balanced``,
    a sample with replacement in which every class is equally likely (as torch's
    ``WeightedRandomSampler`` draws); ``shuffle``, a permutation; ``sequential``, in order.
    Each image is mirrored (along ``width_axis``) with probability ``hflip``. Returns the
    dataset and its generator: reseed it, or keep its state, to replay the draws."""
    generator = tf.random.Generator.from_seed(seed)
    n = len(y)
    counts = np.bincount(np.asarray(y).reshape(-1).astype(np.int64))
    weights = 1 / counts[np.asarray(y).reshape(-1).astype(np.int64)]
    cdf = tf.constant(np.cumsum(weights) / weights.sum())  # float64, by inverse CDF below
    images, labels = tf.constant(x), tf.constant(y)

    def epoch():  # a fresh key per epoch; a few stateless ops draw the whole epoch
        sample_key, flip_key = tf.unstack(generator.make_seeds(2), axis=1)
        if sampler == "balanced":
            u = tf.random.stateless_uniform([n], seed=sample_key, dtype=tf.float64)
            order = tf.searchsorted(cdf, u, side="left")
        elif sampler == "shuffle":
            order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=sample_key)
        else:
            order = tf.range(n)
        return order, tf.random.stateless_uniform([n], seed=flip_key) < hflip

    def batch(order, flips):
        x_batch = tf.gather(images, order)
        if hflip:
            mirrored = tf.reverse(x_batch, axis=[width_axis])
            x_batch = tf.where(flips[:, None, None, None], mirrored, x_batch)
        return x_batch, tf.gather(labels, order)

    # No autotuning (its thread would sleep up to a minute when an iterator is freed), and no
    # prefetch injected above a repetition (it would draw the next epoch early).
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    dataset = (
        tf.data.Dataset.range(1)  # one epoch, drawn when its first batch is asked for
        .flat_map(lambda _: tf.data.Dataset.from_tensor_slices(epoch()).batch(batch_size))
        .apply(tf.data.experimental.assert_cardinality(-(-n // batch_size)))
        .map(batch)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )
    return dataset, generator
