"""The four losses and both optimizers of the spec language, in torch and Keras."""

from functools import partial
import numpy as np
import pytest
import torch

from keras_impl.train import make_loss as keras_loss
from spec import load_spec, resolve_spec
from torch_impl.train import make_loss as torch_loss
from common.runs import runner

keras_train = partial(runner.train_spec, "keras")
torch_train = partial(runner.train_spec, "torch")


def _outputs(loss: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if loss in ("bce", "bce_logits"):
        logits = rng.standard_normal((8, 1)).astype(np.float32)
        targets = rng.integers(0, 2, (8, 1)).astype(np.float32)
        return (1 / (1 + np.exp(-logits)) if loss == "bce" else logits), targets
    logits = rng.standard_normal((8, 3)).astype(np.float32)
    targets = rng.integers(0, 3, 8)
    if loss == "nll":
        logits = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logits, targets


@pytest.mark.parametrize("loss", ["bce", "bce_logits", "cross_entropy", "nll"])
def test_losses_agree_on_the_same_outputs(loss):
    outputs, targets = _outputs(loss, np.random.default_rng(0))
    torch_target = torch.as_tensor(targets) if loss.startswith("bce") else torch.as_tensor(targets).long()
    expected = torch_loss(loss)(torch.as_tensor(outputs), torch_target).item()
    got = float(keras_loss(loss)(targets, outputs))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "loss, head, optimizer",
    [
        ("bce_logits", "", "{sgd: {lr: 0.1, momentum: 0.9, nesterov: true}}"),
        ("bce", "\n    - {sigmoid: {name: sigmoid}}", "{adam: {lr: 0.01, betas: [0.8, 0.99], eps: 1.0e-7}}"),
    ],
)
def test_every_loss_and_optimizer_trains_in_both_backends(tmp_path, loss, head, optimizer):
    text = resolve_spec("relu").read_text()
    text = text.replace("    - {sigmoid: {name: sigmoid}}", head.lstrip("\n") if head else "")
    text = text.replace("loss: bce", f"loss: {loss}").replace("{sgd: {lr: 0.1}}", optimizer)
    path = tmp_path / "variant.yaml"
    path.write_text(text)
    spec = load_spec(path).with_overrides(epochs=15)
    for train, layout in ((torch_train, "nchw"), (keras_train, "nhwc")):
        result = train(spec, layout)
        assert np.isfinite(result.train_loss).all()
        assert result.train_loss[-1] < result.train_loss[0]
