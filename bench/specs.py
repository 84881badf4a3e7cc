"""The benchmarks' models: shipped specs on MNIST-sized generated data, and their FLOPs."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from spec import Spec, load_spec, resolve_spec
from spec.layers import fan_in

MODELS = ("cnn1", "lenet", "mnist_cnn")
MNIST_SIZE = 28
TRAINING_PASSES = 3  # a training sample's FLOPs, in forward passes (see epoch_flops)


def bench_spec(name: str) -> Spec:
    """``name`` on generated 28 x 28 images (what ``lenet`` and ``mnist_cnn`` train on
    already; ``cnn1``'s own are 10 x 10), so that every model sees MNIST-sized inputs."""
    path = resolve_spec(name)
    spec = load_spec(path)
    if spec.data.dataset.kind != "lines" or spec.data.dataset.params["img_size"] == MNIST_SIZE:
        return spec
    text = re.sub(r"img_size: *\d+", f"img_size: {MNIST_SIZE}", path.read_text())
    resized = Path(tempfile.mkdtemp(prefix="twinspec-bench-")) / path.name
    resized.write_text(text)
    return load_spec(resized)


def forward_flops(spec: Spec) -> float:
    """Multiply-adds times two of one sample's forward pass, in the conv and linear layers
    (the rest is noise next to them)."""
    total = 0.0
    for layer in spec.model.layers:
        if layer.kind in ("conv2d", "linear"):
            outputs = 1
            for size in layer.out_shape:
                outputs *= size
            total += 2.0 * outputs * fan_in(layer.kind, layer.in_shape, layer.params)
    return total


def epoch_flops(spec: Spec, n_train: int, n_val: int) -> float:
    """One epoch: training costs about three forward passes per sample (forward, and the
    backward pass's input and weight gradients), validation one."""
    return forward_flops(spec) * (TRAINING_PASSES * n_train + n_val)


def step_flops(spec: Spec) -> float:
    """One training step on a whole batch, counted as ``epoch_flops`` counts training."""
    return forward_flops(spec) * TRAINING_PASSES * spec.data.batch_size
