"""Spec -> ``nn.Sequential`` whose children carry the spec's layer names."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.ops import Permute

from spec.schema import LayerSpec, ModelSpec


def _conv2d(layer: LayerSpec) -> nn.Module:
    p = layer.params
    return nn.Conv2d(layer.in_shape[0], p["filters"], p["kernel"], p["stride"], p["padding"], bias=p["bias"])


def _linear(layer: LayerSpec) -> nn.Module:
    return nn.Linear(layer.in_shape[0], layer.params["units"], bias=layer.params["bias"])


PADS = {"zeros": nn.ZeroPad2d, "reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}


def _batchnorm(layer: LayerSpec) -> nn.Module:
    norm = nn.BatchNorm2d if len(layer.in_shape) == 3 else nn.BatchNorm1d
    return norm(layer.in_shape[0], eps=layer.params["eps"], momentum=layer.params["momentum"])


LAYERS: dict[str, Callable[[LayerSpec], nn.Module]] = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer: nn.MaxPool2d(layer.params["kernel"], layer.params["stride"]),
    "avgpool2d": lambda layer: nn.AvgPool2d(layer.params["kernel"], layer.params["stride"]),
    "pad2d": lambda layer: PADS[layer.params["mode"]](layer.params["padding"]),
    "batchnorm": _batchnorm,
    "flatten": lambda layer: nn.Flatten(),
    "linear": _linear,
    "dropout": lambda layer: nn.Dropout(layer.params["p"]),
    "relu": lambda layer: nn.ReLU(),
    "leaky_relu": lambda layer: nn.LeakyReLU(layer.params["slope"]),
    "prelu": lambda layer: nn.PReLU(init=layer.params["init"]),
    "tanh": lambda layer: nn.Tanh(),
    "sigmoid": lambda layer: nn.Sigmoid(),
    "softmax": lambda layer: nn.Softmax(dim=-1),
    "log_softmax": lambda layer: nn.LogSoftmax(dim=-1),
}


# torch's layers take no activation argument: a fused one is a module of its own after them.
FUSED: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "softmax": lambda: nn.Softmax(dim=-1)}


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> nn.Sequential:
    """Seed like the book (``torch.manual_seed`` just before), then add the layers in order.

    An ``nhwc`` model takes ``(N, H, W, C)`` input and computes channels-last, the way torch
    means NHWC: its first module permutes to torch's ``(N, C, H, W)`` shape (a view, with
    channels-last strides) and its conv weights are ``torch.channels_last``, so convolutions
    and pools run on NHWC memory (about 0.8 times the time of the permute alone on
    mnist_cnn and lenet: README, "Speed"). ``nchw`` keeps the book's contiguous tensors:
    channels-last kernels round differently, and the book's run must stay bit for bit. A
    layer with a fused ``activation`` is followed by that activation's module, named
    ``<layer>_<activation>``. Both modes build the same model: torch's semantics are what
    lockstep holds Keras to.
    """
    torch.manual_seed(model.seed)
    net = nn.Sequential()
    if layout == "nhwc":
        net.add_module("nhwc_to_nchw", Permute([0, 3, 1, 2]))
    for layer in model.layers:
        net.add_module(layer.name, LAYERS[layer.kind](layer))
        if layer.activation is not None:
            net.add_module(layer.activation_name, FUSED[layer.activation]())
    if model.init == "keras":
        _keras_init(net)
    if layout == "nhwc":
        net.to(memory_format=torch.channels_last)
    return net


def _keras_init(net: nn.Module) -> None:
    """Keras' defaults in torch: glorot-uniform weights, zero biases, in layer order."""
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_table(model: nn.Module) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(layer, tensor, shape, numel)`` for each trainable tensor, as the slides list
    ``[(name, p.numel()) for name, p in model.named_parameters()]``; torch's shapes."""
    rows = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            layer, _, tensor = name.rpartition(".")
            rows.append((layer, tensor, tuple(p.shape), p.numel()))
    return rows
