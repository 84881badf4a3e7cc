"""What JAX with Flax NNX and Optax needs to compute what torch computes, in a few ``jnp``
ops each.

Optax's SGD and Adam already compute torch's updates (Adam adds ``eps`` to the
bias-corrected ``sqrt(v)``, as torch does), and ``jnp.pad`` has every padding mode of
torch's; what is left: the losses Optax lacks (on probabilities, the negative
log-likelihood), torch's default initial weights as Flax initializers, and for lockstep,
torch's batch statistics, its clamped logs and the plan's dropout masks. The listing
(``run.py show --backend jax``) prints these functions' own source where a spec needs them.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from common.calls import Call, Name, Substitutions, call
from common.replay.plan import dropout_scale
from spec.schema import ModelSpec

ADAPTATIONS: dict[str, str] = {
    "bce, cross_entropy_probs, nll_loss": "the losses on probabilities and log-probabilities, which Optax lacks",
    "bce_logits, cross_entropy": "Optax's losses on logits, averaged over the batch as torch's are",
    "torch_init": "init: torch, torch's default initial weights as Flax initializers",
    "uniform_init": "init: uniform over [a, b), as torch's nn.init.uniform_ (Flax's uniform starts at 0)",
    "torch_rmsprop": "RMSprop with momentum as torch steps it, the rate after the buffer (lockstep, under a scheduler)",
    "torch_bce_loss": "BCE on probabilities with torch's log clamp at -100 (lockstep)",
    "torch_probs_nll_loss": "cross-entropy on probabilities as torch computes it, NLL of their clamped log (lockstep)",
    "TorchBatchNorm": "torch's unbiased running variance, and its batch variance in two passes (lockstep)",
    "planned_dropout": "dropout with the plan's masks, torch's own draws, at torch's float32 scale (lockstep)",
}

# Optax's rmsprop in torch's order, its hyperparameters injected as the others' are.
TORCH_RMSPROP = "optax.inject_hyperparams(torch_rmsprop)"

# The names and calls lockstep replaces with torch's semantics (``common.calls.substitute``):
# the functions and classes below marked lockstep.
LOCKSTEP: Substitutions = {
    "bce": lambda _: Name("torch_bce_loss"),
    "cross_entropy_probs": lambda _: Name("torch_probs_nll_loss"),
    "nnx.BatchNorm": lambda norm: Call("TorchBatchNorm", norm.args, norm.kwargs),
}
# Under a scheduler, what lockstep replaces too: a momentum that holds past rates.
SCHEDULED_LOCKSTEP: Substitutions = {
    "optax.inject_hyperparams(optax.rmsprop)": lambda rmsprop: (
        Call(TORCH_RMSPROP, rmsprop.args, rmsprop.kwargs) if dict(rmsprop.kwargs).get("momentum") else rmsprop
    ),
}


def lockstep_calls(model: ModelSpec) -> Substitutions:
    """:data:`LOCKSTEP`, and for ``model`` (feature maps channels-last), each dropout's op as
    ``planned_dropout``, taking its layer's mask, ``mask``, from the batch."""

    def planned(name: str):
        layer = model.layer(name)
        channels_last_map = layer.in_shape if len(layer.in_shape) == 3 else model.flattened_from(name)
        rate = layer.params["p"]
        return lambda applied: call("planned_dropout", applied.args[0], Name("mask"), rate, channels_last_map)

    return {**LOCKSTEP, **{f"self.{name}": planned(name) for name in model.dropout_layers}}


def torch_init(fan_in):
    """PyTorch's default initialisation as Flax initializers: kaiming-uniform(a=sqrt(5))
    kernels and uniform biases, both within 1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(fan_in)

    def bias_init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    kernel_init = nnx.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
    return {"kernel_init": kernel_init, "bias_init": bias_init}


def uniform_init(a, b):
    """Kernels uniform over [a, b), as torch's ``nn.init.uniform_(w, a, b)``: Flax's own
    ``uniform(scale)`` draws over [0, scale)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, a, b)

    return init


def torch_rmsprop(learning_rate, momentum, decay=0.9, eps=1e-8, eps_in_sqrt=True):
    """torch's RMSprop with momentum: the buffer holds ``g / (sqrt(v) + eps)`` and the step is
    ``lr`` times it. Optax's ``rmsprop`` traces the step itself, ``lr`` inside, which is the
    same while the rate holds and another run once a scheduler changes it."""
    rms = optax.scale_by_rms(decay=decay, eps=eps, eps_in_sqrt=eps_in_sqrt)
    return optax.chain(rms, optax.trace(decay=momentum), optax.scale_by_learning_rate(learning_rate))


def bce(probs, y):
    """Binary cross-entropy on probabilities, clipped to [1e-7, 1 - 1e-7] so that each log
    stays finite (as Keras clips them)."""
    probs = jnp.clip(probs, 1e-7, 1 - 1e-7)
    return -jnp.mean(y * jnp.log(probs) + (1 - y) * jnp.log(1 - probs))


def bce_logits(logits, y):
    """Binary cross-entropy on logits: Optax's, averaged."""
    return optax.sigmoid_binary_cross_entropy(logits, y).mean()


def cross_entropy(logits, y):
    """Softmax cross-entropy on logits against class indices: Optax's, averaged (torch's
    ``CrossEntropyLoss``)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def cross_entropy_probs(probs, y):
    """Cross-entropy on probabilities (a softmax output) against class indices: minus the log
    of the true class's probability, clipped to [1e-7, 1 - 1e-7] first, as Keras clips them."""
    true_probs = jnp.take_along_axis(probs, y[:, None], axis=1)
    return -jnp.mean(jnp.log(jnp.clip(true_probs, 1e-7, 1 - 1e-7)))


def nll_loss(log_probs, y):
    """torch's ``NLLLoss``: minus the log-probability of the true class, averaged."""
    return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


def torch_bce_loss(probs, y):
    """torch's ``BCELoss``: on the probabilities themselves, each log clamped at -100
    (lockstep; natively ``bce`` clips the probabilities instead)."""
    return -jnp.mean(y * _clamped_log(probs) + (1.0 - y) * _clamped_log(1.0 - probs))


TINY = 1.1754944e-38  # the smallest normal float32, torch.finfo(torch.float32).tiny


def torch_probs_nll_loss(probs, y):
    """torch's cross-entropy on probabilities (``torch_impl.semantics.ProbsNLLLoss``): minus
    the log of the true class's probability, clamped at the smallest normal float (lockstep)."""
    true_probs = jnp.take_along_axis(probs, y[:, None], axis=1)
    return -jnp.mean(jnp.log(jnp.maximum(true_probs, TINY)))


def _clamped_log(p):
    """``max(log p, -100)``, with a zero gradient (not 0 * inf = NaN) where p is exactly 0."""
    positive = p > 0
    return jnp.where(positive, jnp.maximum(jnp.log(jnp.where(positive, p, 1.0)), -100.0), -100.0)


class TorchBatchNorm(nnx.BatchNorm):
    """torch's batch statistics: the batch variance in two passes (Flax's fast one is
    E[x^2] - E[x]^2), and a running variance with Bessel's correction, n / (n - 1); both
    normalise with the biased one. Lockstep only."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, use_fast_variance=False, **kwargs)

    def __call__(self, x, use_running_average=None, *, mask=None):
        running = self.use_running_average if use_running_average is None else use_running_average
        if running:
            return super().__call__(x, use_running_average=True)
        previous = self.var[...]
        y = super().__call__(x, use_running_average=False)
        n = x.size // x.shape[-1]
        variance = jnp.var(x, axis=tuple(range(x.ndim - 1)))
        self.var[...] = self.momentum * previous + (1 - self.momentum) * variance * (n / (n - 1))
        return y


def planned_dropout(x, mask, rate: float, channels_last_map: tuple[int, int, int] | None):
    """torch's dropout with torch's mask, from the plan: ``x * mask / (1 - p)``, the scale in
    float32 as torch rounds it. The mask is in torch's order, ``(N, C, H, W)`` or ``(N, F)``;
    ``channels_last_map``, a ``(C, H, W)``, says ``x`` holds that map channels-last, as a
    feature map or flattened (H, W, C). Lockstep only: in evaluation no mask comes, and
    nothing is dropped."""
    if mask is None:
        return x
    mask = mask.astype(x.dtype)
    if channels_last_map is not None:
        torch_order = jnp.reshape(mask, (-1, *channels_last_map))
        mask = jnp.reshape(jnp.transpose(torch_order, (0, 2, 3, 1)), x.shape)
    return x * (mask * float(dropout_scale(rate)))
