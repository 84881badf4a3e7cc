"""torch's formulas where plain TensorFlow has none or another: what lockstep needs.

TensorFlow has no negative log-likelihood loss and no cross-entropy on probabilities, and
its own batch statistics are the biased ones. Each piece here is a few ``tf`` ops, named
where ``build`` and ``train`` use it (``keras_impl/semantics.py`` holds Keras' counterparts).
"""

from __future__ import annotations

import tensorflow as tf

from common.replay.plan import dropout_scale


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
    (lockstep; natively ``train.bce`` adds TensorFlow's epsilon instead)."""
    return -tf.reduce_mean(y * _clamped_log(probs) + (1.0 - y) * _clamped_log(1.0 - probs))


def _clamped_log(p: tf.Tensor) -> tf.Tensor:
    """``max(log p, -100)``, with a zero gradient (not 0 * inf = NaN) where p is exactly 0:
    a saturated sigmoid gives exactly 0 or 1 in float32."""
    positive = p > 0
    return tf.where(positive, tf.maximum(tf.math.log(tf.where(positive, p, 1.0)), -100.0), -100.0)


def torch_running_variance(variance: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """What torch's running variance averages: the batch variance with Bessel's correction,
    ``n / (n - 1)``. Both normalise the batch with the biased one (lockstep)."""
    return variance * count / (count - 1)
