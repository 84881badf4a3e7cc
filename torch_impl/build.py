"""Spec -> ``nn.Sequential`` whose children carry the spec's layer names, made by instantiating
the calls of ``calls.py``, the very calls the listing prints."""

from __future__ import annotations

import torch
from torch import nn

from common.calls import instantiate, substitute
from spec.schema import ModelSpec
from torch_impl.calls import NORMAL_GENERATOR, draws_normal, dry_run, module_calls, reinit, set_weights_calls
from torch_impl.semantics import LOCKSTEP, ProbsNLLLoss, keras_init

# What the calls' names mean: the modules a PyTorch user imports, and what torch lacks.
NAMESPACE = {
    "torch": torch,
    "nn": nn,
    "optim": torch.optim,
    "dict": dict,
    "ProbsNLLLoss": ProbsNLLLoss,
    "keras_init": keras_init,
}


class ChannelsFirst(nn.Module):
    """An ``nhwc`` model's first module: ``(N, H, W, C)`` input as torch's ``(N, C, H, W)``
    shape, a view with channels-last strides (``torchvision.ops.Permute([0, 3, 1, 2])``,
    without importing torchvision, which loads ``torch._dynamo``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


def build_model(model: ModelSpec, layout: str, mode: str = "native") -> nn.Sequential:
    """Seed like the book (``torch.manual_seed`` just before), then add the layers in order.

    An ``nhwc`` model takes ``(N, H, W, C)`` input and computes channels-last, the way torch
    means NHWC: its first module makes torch's ``(N, C, H, W)`` shape (a view, with
    channels-last strides) and its conv weights are ``torch.channels_last``, so convolutions
    and pools run on NHWC memory (docs/speed.md, "Torch in nhwc"). ``nchw`` keeps the book's contiguous
    tensors: channels-last kernels round differently, and the book's run must stay bit for
    bit. In ``lockstep`` mode the calls go through ``semantics.LOCKSTEP``, which is empty:
    torch's semantics are what lockstep holds the other columns to.
    """
    torch.manual_seed(model.seed)
    net = nn.Sequential()
    if layout == "nhwc":
        net.add_module("nhwc_to_nchw", ChannelsFirst())
    namespace = {**NAMESPACE, "model": net}
    made = module_calls(model, "model")
    instantiate(substitute(made, LOCKSTEP) if mode == "lockstep" else made, namespace)
    lazy = dry_run(model, "model", _input_shape(model, layout))
    if lazy is not None:  # in eval mode and without gradients: nothing it meets draws or learns
        net.eval()
        with torch.no_grad():
            instantiate(lazy, namespace)
        net.train()
    if draws_normal(model):
        namespace[NORMAL_GENERATOR] = torch.Generator().manual_seed(model.seed)
    instantiate([*reinit(model), *set_weights_calls(model, "model")], namespace)
    if layout == "nhwc":
        net.to(memory_format=torch.channels_last)
    return net


def _input_shape(model: ModelSpec, layout: str) -> tuple[int, ...]:
    channels, height, width = model.layers[0].in_shape
    return (height, width, channels) if layout == "nhwc" else (channels, height, width)


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
