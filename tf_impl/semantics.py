"""What plain TensorFlow needs to compute what torch computes, in a few ``tf`` ops each.

Without Keras, TensorFlow has no loss functions (``tf.losses`` is Keras'), no negative
log-likelihood, no replicate padding, and its batch statistics are the biased ones. The
losses here are the math ``fit`` hides; ``keras_impl/semantics.py`` holds Keras'
counterparts. The listing (``run.py show --backend tf``) prints these functions' own source.
"""

from __future__ import annotations

from common.replay.plan import dropout_scale
from tf_impl._tensorflow import tf

ADAPTATIONS: dict[str, str] = {
    "bce, bce_logits, cross_entropy, cross_entropy_probs": (
        "the losses, in tf ops: TensorFlow without Keras has none (native and lockstep)"
    ),
    "nll_loss": "torch's NLLLoss (native and lockstep)",
    "pad2d": "torch's reflect and replicate padding around tf.pad (native and lockstep)",
    "torch_bce_loss": "BCE on probabilities with torch's log clamp at -100 (lockstep)",
    "torch_probs_nll_loss": "cross-entropy on probabilities as torch computes it, NLL of their clamped log (lockstep)",
    "torch_running_variance": "torch's unbiased running variance (lockstep)",
    "planned_dropout": "dropout with the plan's masks, torch's own draws (lockstep)",
}


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


def pad2d(x: tf.Tensor, padding: int, mode: str, spatial_axes: tuple = (1, 2)) -> tf.Tensor:
    """torch's ZeroPad2d, ReflectionPad2d and ReplicationPad2d: ``tf.pad`` pads with zeros or
    reflects; replicate repeats the edge pixels, by clipped indices."""
    if mode == "replicate":
        for axis in spatial_axes:
            size = x.shape[axis]
            index = tf.clip_by_value(tf.range(-padding, size + padding), 0, size - 1)
            x = tf.gather(x, index, axis=axis)
        return x
    widths = [[padding, padding] if axis in spatial_axes else [0, 0] for axis in range(4)]
    return tf.pad(x, widths, mode="REFLECT" if mode == "reflect" else "CONSTANT")


def planned_dropout(
    x: tf.Tensor, mask: tf.Tensor, rate: float, channels_last_map: tuple[int, int, int] | None
) -> tf.Tensor:
    """torch's dropout with torch's mask, from the plan: ``x * mask / (1 - p)``, the scale in
    float32 as torch rounds it. The mask is in torch's order, ``(N, C, H, W)`` or ``(N, F)``;
    ``channels_last_map``, a ``(C, H, W)``, says ``x`` holds that map channels-last, as a
    feature map or flattened (H, W, C). Lockstep only."""
    mask = tf.cast(mask, x.dtype)
    if channels_last_map is not None:
        mask = tf.reshape(tf.transpose(tf.reshape(mask, [-1, *channels_last_map]), [0, 2, 3, 1]), tf.shape(x))
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


def torch_running_variance(variance: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """What torch's running variance averages: the batch variance with Bessel's correction,
    ``n / (n - 1)``. Both normalise the batch with the biased one (lockstep)."""
    return variance * count / (count - 1)
