"""Spec -> ``nn.Sequential`` whose children carry the spec's layer names."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.ops import Permute

from spec.schema import LayerSpec, ModelSpec


def _linear(layer: LayerSpec) -> nn.Module:
    return nn.Linear(layer.in_shape[0], layer.params["units"], bias=layer.params["bias"])


LAYERS: dict[str, Callable[[LayerSpec], nn.Module]] = {
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


def build_model(model: ModelSpec, layout: str) -> nn.Sequential:
    """Seed like the book (``torch.manual_seed`` just before), then add the layers in order.

    An ``nhwc`` model takes channels-last input and permutes it once to torch's NCHW.
    """
    torch.manual_seed(model.seed)
    net = nn.Sequential()
    if layout == "nhwc":
        net.add_module("nhwc_to_nchw", Permute([0, 3, 1, 2]))
    for layer in model.layers:
        net.add_module(layer.name, LAYERS[layer.kind](layer))
    if model.init == "keras":
        _keras_init(net)
    return net


def _keras_init(net: nn.Module) -> None:
    """Keras' defaults in torch: glorot-uniform weights, zero biases, in layer order."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

