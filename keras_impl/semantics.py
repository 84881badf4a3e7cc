"""What Keras needs to compute what torch computes: torch's layers and losses that Keras
lacks, and, for lockstep only, torch's semantics where Keras' own differ.

Kept apart from ``build.py`` and ``train.py`` so that those read as plain Keras, and so
that ``diff`` against another column's modules shows the framework and nothing else. The
listing (``run.py show``) prints these classes' own source where a spec needs them.
"""

from __future__ import annotations

import math

from keras_impl._keras import keras, ops  # on this process's backend (its family entered first)

from common.calls import Call, Substitutions, call
from common.replay.plan import dropout_scale
from spec.schema import ModelSpec

ADAPTATIONS: dict[str, str] = {
    "NLLLoss": "torch's NLLLoss, which Keras lacks (native and lockstep)",
    "Pad2D": "torch's reflect, replicate, circular and constant padding, and a max pool's -inf, which Keras lacks "
    "(native and lockstep)",
    "TorchBCELoss": "BCE on probabilities with torch's log clamp at -100 (lockstep)",
    "TorchProbsNLLLoss": "cross-entropy on probabilities as torch computes it, NLL of their clamped log (lockstep)",
    "L2WeightDecay": "torch's weight_decay, added to the gradient: Keras' own decouples it (native and lockstep)",
    "SGDWithL2": "SGD with torch's weight_decay (native and lockstep)",
    "AdamWithL2": "Adam with torch's weight_decay (native; TorchAdam in lockstep)",
    "RMSpropWithL2": "RMSprop with torch's weight_decay (native; TorchRMSprop in lockstep)",
    "TorchSGD": "SGD with torch's buffer, the gradients' sum stepped by lr (Keras' velocity holds each past "
    "step's rate: another run once a scheduler changes it), its momentum a variable a scheduler cycles "
    "(lockstep with a scheduler; native where the momentum cycles)",
    "TorchAdam": "Adam with eps added to the bias-corrected sqrt(v), as torch adds it (lockstep)",
    "TorchRMSprop": "RMSprop with eps added to sqrt(v), as torch adds it, and torch's momentum buffer (lockstep)",
    "TorchBatchNormalization": "torch's unbiased running variance (lockstep)",
    "PlannedDropout": "dropout with the masks torch draws, from the plan, at torch's float32 scale (lockstep)",
    "LockstepSequential": "a Sequential whose train step hands each batch's dropout masks to their layers (lockstep)",
    "BatchMeanLoss": "the book's epoch loss, the plain mean of the batch losses (native and lockstep)",
    "torch_init": "init: torch, torch's default initial weights as Keras initializers",
}


def _on_probabilities(replacement: str):
    """Keras' loss on probabilities replaced by torch's; on logits (``from_logits=True``) kept."""
    return lambda loss: loss if dict(loss.kwargs).get("from_logits") else call(replacement)


# The calls lockstep replaces with torch's semantics (``common.calls.substitute``): the classes
# below marked lockstep.
LOCKSTEP: Substitutions = {
    "keras.Sequential": lambda sequential: Call(
        "LockstepSequential", sequential.args, sequential.kwargs
    ),
    "layers.BatchNormalization": lambda norm: Call(
        "TorchBatchNormalization", norm.args, norm.kwargs
    ),
    "keras.losses.BinaryCrossentropy": _on_probabilities("TorchBCELoss"),
    "keras.losses.SparseCategoricalCrossentropy": _on_probabilities("TorchProbsNLLLoss"),
    "keras.optimizers.Adam": lambda adam: Call("TorchAdam", adam.args, adam.kwargs),
    "AdamWithL2": lambda adam: Call("TorchAdam", adam.args, adam.kwargs),
    "keras.optimizers.AdamW": lambda adam: Call("TorchAdam", adam.args, adam.kwargs),  # Keras' decay is AdamW's
    "keras.optimizers.RMSprop": lambda rmsprop: Call("TorchRMSprop", rmsprop.args, rmsprop.kwargs),
    "RMSpropWithL2": lambda rmsprop: Call("TorchRMSprop", rmsprop.args, rmsprop.kwargs),
}


# Keras' SGD steps by torch's numbers while the rate holds (its velocity is the rate times
# torch's buffer); once a scheduler changes the rate between steps, torch's SGD.
SCHEDULED_LOCKSTEP: Substitutions = {
    "keras.optimizers.SGD": lambda sgd: Call("TorchSGD", sgd.args, sgd.kwargs),
    "SGDWithL2": lambda sgd: Call("TorchSGD", sgd.args, sgd.kwargs),
}


def lockstep_calls(model: ModelSpec, data_format: str) -> Substitutions:
    """:data:`LOCKSTEP`, and for ``model``, with feature maps in ``data_format``, its dropouts
    as ``PlannedDropout``s, which apply the masks of torch's order to their own."""

    def planned(dropout: Call) -> Call:
        layer = model.layer(dict(dropout.kwargs)["name"])
        if len(layer.in_shape) == 3:
            channels_last_map = layer.in_shape if data_format == "channels_last" else None
        else:
            channels_last_map = model.flattened_from(layer.name)
        return call(
            "PlannedDropout", dict(dropout.kwargs)["rate"], channels_last_map, name=layer.name
        )

    return {**LOCKSTEP, "layers.Dropout": planned}


def torch_init(fan_in):
    """PyTorch's default initialisation in Keras terms: kaiming-uniform(a=sqrt(5)) weights and
    uniform biases, both within 1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(fan_in)
    return {
        "kernel_initializer": keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }


class NLLLoss(keras.losses.Loss):
    """PyTorch's NLLLoss, which Keras lacks: minus the log-probability of the true class."""

    def __init__(self, name: str = "nll", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        classes = keras.ops.cast(keras.ops.reshape(y_true, (-1, 1)), "int32")
        return -keras.ops.take_along_axis(y_pred, classes, axis=1)[:, 0]


@keras.saving.register_keras_serializable("twinspec")
class Pad2D(keras.layers.Layer):
    """torch's padding modes that Keras has no layer for: reflect, replicate, circular, and a
    constant other than zero. ``padding``: pixels on every side, or (height, width)."""

    def __init__(self, padding, mode: str, data_format: str, value: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.padding, self.mode, self.data_format, self.value = padding, mode, data_format, value
        pads = tuple(padding) if isinstance(padding, (tuple, list)) else (padding, padding)
        spatial_axes = (2, 3) if data_format == "channels_first" else (1, 2)
        self.pads = dict(zip(spatial_axes, pads))  # axis -> pixels

    def call(self, x):
        if self.mode in ("reflect", "constant"):
            widths = [[self.pads.get(axis, 0)] * 2 for axis in range(4)]
            constant = {"constant_values": self.value} if self.mode == "constant" else {}
            return keras.ops.pad(x, widths, mode=self.mode, **constant)
        for axis, p in self.pads.items():  # repeat the edge pixels, or wrap around, by indices
            size = x.shape[axis]
            index = keras.ops.arange(-p, size + p)
            index = keras.ops.clip(index, 0, size - 1) if self.mode == "replicate" else index % size
            x = keras.ops.take(x, index, axis)
        return x

    def compute_output_shape(self, shape):
        grown = [
            None if d is None else d + 2 * self.pads.get(axis, 0) for axis, d in enumerate(shape)
        ]
        return tuple(grown)

    def get_config(self) -> dict:
        extra = {
            "padding": self.padding,
            "mode": self.mode,
            "data_format": self.data_format,
            "value": self.value,
        }
        return {**super().get_config(), **extra}


class TorchBCELoss(keras.losses.Loss):
    """torch's ``BCELoss``: on the probabilities themselves, each log clamped at -100.
    Keras' ``BinaryCrossentropy`` spots the logits behind a sigmoid output and works on
    those instead (or clips probabilities to [1e-7, 1 - 1e-7]). Lockstep only."""

    def __init__(self) -> None:
        super().__init__(name="torch_bce")

    def call(self, y_true, probs):
        y_true = ops.cast(y_true, probs.dtype)
        return -(y_true * _clamped_log(probs) + (1.0 - y_true) * _clamped_log(1.0 - probs))


TINY = 1.1754944e-38  # the smallest normal float32, torch.finfo(torch.float32).tiny


class TorchProbsNLLLoss(keras.losses.Loss):
    """torch's cross-entropy on probabilities (``torch_impl.train.ProbsNLLLoss``): minus the
    log of the true class's probability, clamped at the smallest normal float. Keras'
    ``SparseCategoricalCrossentropy()`` on a softmax output works on the logits behind it
    instead (or clips probabilities to [1e-7, 1 - 1e-7] when it cannot find them). Lockstep only."""

    def __init__(self) -> None:
        super().__init__(name="torch_probs_nll")

    def call(self, y_true, probs):
        classes = ops.cast(ops.reshape(y_true, (-1, 1)), "int32")
        true_probs = ops.take_along_axis(probs, classes, axis=1)[:, 0]
        return -ops.log(ops.maximum(true_probs, TINY))


def _clamped_log(p):
    """``max(log p, -100)``, with a zero gradient (not 0 * inf = NaN) where p is exactly 0:
    a saturated sigmoid gives exactly 0 or 1 in float32."""
    positive = p > 0
    return ops.where(positive, ops.maximum(ops.log(ops.where(positive, p, 1.0)), -100.0), -100.0)


class L2WeightDecay:
    """torch's ``weight_decay`` on SGD, Adam and RMSprop: ``l2 * w`` joins the gradient
    before the step (an L2 penalty's gradient). Keras' own ``weight_decay`` shrinks the
    weights apart from the gradient (decoupled), as torch's AdamW alone does."""

    def __init__(self, *args, l2: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.l2 = l2

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(self.decayed(gradient, variable), variable, learning_rate)

    def decayed(self, gradient, variable):
        gradient = ops.cast(gradient, variable.dtype)
        return ops.add(gradient, ops.multiply(self.l2, variable)) if self.l2 else gradient

    def get_config(self) -> dict:
        return {**super().get_config(), "l2": self.l2}


@keras.saving.register_keras_serializable("twinspec")
class SGDWithL2(L2WeightDecay, keras.optimizers.SGD):
    """Keras' SGD with torch's weight decay."""


@keras.saving.register_keras_serializable("twinspec")
class AdamWithL2(L2WeightDecay, keras.optimizers.Adam):
    """Keras' Adam with torch's weight decay."""


@keras.saving.register_keras_serializable("twinspec")
class RMSpropWithL2(L2WeightDecay, keras.optimizers.RMSprop):
    """Keras' RMSprop with torch's weight decay."""


@keras.saving.register_keras_serializable("twinspec")
class TorchSGD(L2WeightDecay, keras.optimizers.SGD):
    """torch's SGD: the buffer sums the gradients, ``b = momentum * b + g``, and the step is
    ``lr * b`` (nesterov: ``lr * (g + momentum * b)``), so that a rate changed between steps
    scales its own step only; Keras' velocity holds every past step's rate. The momentum is
    a variable, which a scheduler that cycles it sets between steps (Keras' is a Python
    float, compiled into the step). ``l2``: torch's weight decay."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        momentum = keras.initializers.Constant(self.momentum)
        self.momentum_variable = self.add_variable((), momentum, name="momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = self.decayed(gradient, variable)
        if self.momentum != 0:
            momentum = ops.cast(self.momentum_variable, variable.dtype)
            buffer = self.momentums[self._get_variable_index(variable)]
            self.assign(buffer, buffer * momentum + gradient)
            gradient = gradient + buffer * momentum if self.nesterov else buffer
        self.assign_sub(variable, lr * gradient)


class TorchAdam(L2WeightDecay, keras.optimizers.Adam):
    """torch's Adam: ``eps`` is added to the bias-corrected ``sqrt(v)``; Keras adds it to the
    raw one and folds the corrections into the step size. ``l2``: torch's weight decay;
    Keras' own ``weight_decay`` is AdamW's. Lockstep only."""

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = self.decayed(gradient, variable)
        step = ops.cast(self.iterations + 1, variable.dtype)
        # 1 - beta**t, which torch takes in float64: in float32 it cancels (1 - 0.999 keeps 4
        # digits of 8), -expm1(t log beta) keeps them
        correction_1 = -ops.expm1(step * math.log(self.beta_1))
        correction_2 = -ops.expm1(step * math.log(self.beta_2))
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign(
            m, m + (gradient - m) * (1 - self.beta_1)
        )  # torch: exp_avg.lerp_(grad, 1 - beta1)
        self.assign(v, v * self.beta_2 + gradient * gradient * (1 - self.beta_2))
        denominator = ops.sqrt(v) / ops.sqrt(correction_2) + self.epsilon
        self.assign_sub(variable, (lr / correction_1) * (m / denominator))


class TorchRMSprop(L2WeightDecay, keras.optimizers.RMSprop):
    """torch's RMSprop: ``eps`` is added to ``sqrt(v)`` (Keras adds it inside the root), and
    the momentum buffer holds ``g / (sqrt(v) + eps)``, stepped by ``lr`` (Keras' holds the
    step, ``lr`` inside). Lockstep only."""

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = self.decayed(gradient, variable)
        v = self._velocities[self._get_variable_index(variable)]
        self.assign(v, v * self.rho + gradient * gradient * (1 - self.rho))
        step = gradient / (ops.sqrt(v) + self.epsilon)
        if self.momentum > 0:
            buffer = self._momentums[self._get_variable_index(variable)]
            self.assign(buffer, buffer * self.momentum + step)
            step = buffer
        self.assign_sub(variable, lr * step)


@keras.saving.register_keras_serializable("twinspec")
class TorchBatchNormalization(keras.layers.BatchNormalization):
    """torch's running variance: the batch variance with Bessel's correction, n / (n - 1).
    Keras keeps the biased one (both normalise with the biased one). Lockstep only.
    On Keras' torch backend, torch's batch variance too: ``mean((x - mean(x))**2)``, where
    that backend's ``ops.moments`` takes ``mean(x**2) - mean(x)**2``, which cancels digits:
    on lockstep_zoo its weights drifted 200 times torch's noise floor in six epochs."""

    def _moments(self, inputs, mask):
        if mask is not None or keras.backend.backend() != "torch":
            return super()._moments(inputs, mask)
        axes = self._reduction_axes
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(inputs - ops.stop_gradient(mean)), axis=axes)
        return ops.mean(inputs, axis=axes), variance

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable):
            return super().call(inputs, training=training, mask=mask)
        previous = keras.ops.copy(self.moving_variance)  # a snapshot, not the variable itself
        outputs = super().call(inputs, training=training, mask=mask)
        _, variance = self._moments(inputs, None)  # over every axis but the features'
        n = keras.ops.cast(
            keras.ops.size(inputs) // keras.ops.shape(inputs)[self.axis], variance.dtype
        )
        self.moving_variance.assign(
            previous * self.momentum + variance * n / (n - 1) * (1 - self.momentum)
        )
        return outputs


@keras.saving.register_keras_serializable("twinspec")
class PlannedDropout(keras.layers.Layer):
    """Dropout with the mask torch drew, from ``common``'s plan: torch's ``x * mask / (1 - p)``,
    the scale rounded to float32 as torch rounds it. The lockstep model's train step hands
    each batch's mask over (``LockstepSequential``); evaluation passes inputs through.
    Lockstep only: Keras' ``Dropout`` draws from its own generator.

    The masks come in torch's order, ``(N, C, H, W)`` or ``(N, F)``. ``channels_last_map``,
    a ``(C, H, W)``, says that this layer sees that map channels-last: as a feature map, or
    flattened (Keras flattens H, W, C, torch C, H, W).
    """

    def __init__(
        self, rate: float, channels_last_map: tuple[int, int, int] | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.rate, self.channels_last_map = rate, channels_last_map
        self.scale = float(dropout_scale(rate))
        self.step_mask = (
            None  # set by LockstepSequential.train_step, for one trace of the train step
        )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if self.step_mask is None:
            raise ValueError(
                f"{self.name}: a planned dropout trains only in LockstepSequential.fit, given masks"
            )
        mask = keras.ops.cast(self.step_mask, inputs.dtype)
        if self.channels_last_map is not None:
            mask = keras.ops.reshape(mask, (-1, *self.channels_last_map))
            mask = keras.ops.reshape(
                keras.ops.transpose(mask, (0, 2, 3, 1)), keras.ops.shape(inputs)
            )
        return inputs * (mask * self.scale)

    def compute_output_shape(self, shape):
        return shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "channels_last_map": self.channels_last_map,
        }


@keras.saving.register_keras_serializable("twinspec")
class LockstepSequential(keras.Sequential):
    """A ``Sequential`` whose training batches are ``((x, masks), y)``: the plan's dropout
    masks, one per ``PlannedDropout`` in layer order, next to the images. Its train step
    hands each layer its mask, then trains as ``Sequential`` does. Lockstep only.
    (Keras' JAX trainer hands the step its state before the data: ``(state, data)``.)"""

    def train_step(self, *state_and_data):
        *state, data = state_and_data
        dropouts = [layer for layer in self.layers if isinstance(layer, PlannedDropout)]
        if not dropouts:  # no masks to hand over: the batches are (x, y)
            return super().train_step(*state, data)
        (x, masks), y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            data
        )  # fit: (x, y); train_on_batch: 3
        for layer, mask in zip(dropouts, masks, strict=True):
            layer.step_mask = mask
        try:
            return super().train_step(*state, (x, y, sample_weight))
        finally:
            for layer in dropouts:
                layer.step_mask = None  # the tensor belongs to this trace alone

    def call(self, inputs, training=None, mask=None, **kwargs):
        if isinstance(inputs, tuple):  # JAX's and torch's fit build from a batch's (x, masks)
            inputs = inputs[0]
        return super().call(inputs, training=training, mask=mask, **kwargs)


class BatchMeanLoss(keras.metrics.Metric):
    """The book's epoch loss: the plain mean of the batch losses. Keras' own ``loss`` weighs
    each batch by its size, which differs from it when the last batch is short."""

    def __init__(self, loss_fn: keras.losses.Loss, name: str = "batch_mean_loss") -> None:
        super().__init__(name=name)
        self.loss_fn = loss_fn
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="total")
        self.batches = self.add_variable(
            shape=(), initializer="zeros", dtype="float64", name="batches"
        )

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self.total.assign_add(ops.cast(self.loss_fn(y_true, y_pred), "float64"))
        self.batches.assign_add(1.0)

    def result(self):
        return self.total / self.batches
