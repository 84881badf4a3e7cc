"""Where Keras' semantics differ from torch's, lockstep's Keras classes follow torch's:
BCE on probabilities, Adam's eps, batchnorm's running variance. Each against torch itself,
and each against Keras' own, to show the difference is real."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from keras_impl.semantics import TorchAdam, TorchBatchNormalization, TorchBCELoss


def test_bce_on_probabilities_clamps_logs_as_torch_does():
    probs = np.array([[0.0], [1.0], [1e-9], [0.3], [0.999]], np.float32)
    targets = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]], np.float32)
    expected = torch.nn.BCELoss()(torch.as_tensor(probs), torch.as_tensor(targets)).item()
    assert float(TorchBCELoss()(targets, probs)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx((100 + 100 - np.log(1e-9) - np.log(0.7) - np.log(0.999)) / 5, rel=1e-5)
    assert float(keras.losses.BinaryCrossentropy()(targets, probs)) < 0.5 * expected  # clipped at 1e-7


def test_bce_gradients_through_a_saturated_sigmoid_are_torchs_not_nan():
    """float32's sigmoid is exactly 0 or 1 beyond |z| of about 17 (1) and 104 (0)."""
    logits = np.array([[-200.0], [-20.0], [-3.0], [0.5], [20.0], [200.0]], np.float32)
    targets = np.array([[1.0], [0.0], [1.0], [0.0], [0.0], [1.0]], np.float32)
    z = torch.tensor(logits, requires_grad=True)
    torch.nn.BCELoss()(torch.sigmoid(z), torch.as_tensor(targets)).backward()
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = TorchBCELoss()(targets, tf.sigmoid(variable))
    ours = tape.gradient(loss, variable).numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, z.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert float(loss) == pytest.approx(torch.nn.BCELoss()(torch.sigmoid(z), torch.as_tensor(targets)).item(), rel=1e-6)


@pytest.mark.parametrize("eps", [1e-8, 1e-3])
def test_adam_adds_eps_after_the_bias_correction(eps):
    """Gradients of 1e-4 keep v near 1e-8, where eps = 1e-3 dominates the step: there
    Keras' own Adam moves otherwise; with eps = 1e-8 the two nearly agree."""
    rng = np.random.default_rng(1)
    start = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [(1e-4 * rng.standard_normal((4, 3))).astype(np.float32) for _ in range(5)]  # v is tiny: eps matters
    weight = torch.nn.Parameter(torch.as_tensor(start.copy()))
    reference = torch.optim.Adam([weight], lr=0.01, betas=(0.8, 0.99), eps=eps)
    ours, theirs = (keras.Variable(start.copy()) for _ in range(2))
    adams = [TorchAdam(0.01, beta_1=0.8, beta_2=0.99, epsilon=eps), keras.optimizers.Adam(0.01, 0.8, 0.99, eps)]
    for grad in grads:
        weight.grad = torch.as_tensor(grad)
        reference.step()
        for adam, variable in zip(adams, (ours, theirs)):
            adam.apply_gradients([(grad, variable)])
    expected = weight.detach().numpy()
    np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-6, atol=1e-7)
    if eps == 1e-3:
        assert np.abs(np.asarray(theirs) - expected).max() > 1e-4


@pytest.mark.parametrize("shape, axis", [((8, 5, 5, 3), -1), ((8, 3, 5, 5), 1), ((8, 6), -1)])
def test_batchnorm_keeps_the_unbiased_running_variance(shape, axis):
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    channels = shape[axis]
    norm = torch.nn.BatchNorm2d(channels, momentum=0.2) if len(shape) == 4 else torch.nn.BatchNorm1d(channels)
    norm.momentum = 0.2
    ours = TorchBatchNormalization(axis=axis, momentum=0.8, epsilon=1e-5)
    theirs = keras.layers.BatchNormalization(axis=axis, momentum=0.8, epsilon=1e-5)
    channels_last = axis == -1 and len(shape) == 4
    for batch in batches:
        expected = norm(torch.as_tensor(batch.transpose(0, 3, 1, 2) if channels_last else batch)).detach().numpy()
        got = np.asarray(ours(batch, training=True))
        theirs(batch, training=True)
        np.testing.assert_allclose(got.transpose(0, 3, 1, 2) if channels_last else got, expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours.moving_mean), norm.running_mean.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(ours.moving_variance), norm.running_var.numpy(), rtol=1e-6)
    assert not np.allclose(np.asarray(theirs.moving_variance), norm.running_var.numpy(), rtol=1e-4)
