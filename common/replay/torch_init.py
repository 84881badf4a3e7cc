"""torch's initial weights for a spec, drawn in numpy: what ``torch.manual_seed(model.seed)``
followed by building the ``nn.Sequential`` produces, bit for bit, without torch.

Each layer initialises itself as it is constructed, in spec order: ``nn.Linear`` and
``nn.Conv2d`` draw their weight (kaiming-uniform, a = sqrt 5) then their bias (uniform
within 1/sqrt(fan_in)); batchnorm and PReLU draw nothing. A lazy layer (``nn.LazyLinear``)
draws at the dry run after the build, so after every other layer, in order. With ``init: keras`` the torch
column then redraws every weight glorot-uniform and zeroes the biases, in the same order.
Then each layer drawn from a distribution, in order, its bias zeroed: ``uniform`` from the
same generator, as ``nn.init.uniform_`` draws; ``normal`` from numpy's generator seeded
with the model's seed. torch's ``normal_`` is a float32 Box-Muller whose ``log``, ``cos``
and ``sin`` differ between its CPU kernels and numpy's (DESIGN.md, "Hazards"), so torch
draws it from a generator of its own (``torch_impl.calls.NORMAL_GENERATOR``), leaving the
stream above to the other draws, and lockstep imports these numpy draws into every
column, torch's included. Last, the weights a spec sets by hand replace what was drawn,
their biases zeroed.
"""

from __future__ import annotations

import math

import numpy as np

from common.files.weights import Weights, expected_shapes
from common.replay.torch_random import TorchCPUGenerator
from spec.layers import fan_in, set_weights
from spec.schema import ModelSpec


def _kaiming_bound(fan: int) -> float:
    """``init.kaiming_uniform_(w, a=math.sqrt(5))``'s bound, computed as torch computes it."""
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    return math.sqrt(3.0) * (gain / math.sqrt(fan))


def torch_initial_weights(model: ModelSpec) -> Weights:
    generator = TorchCPUGenerator(model.seed)
    shapes = expected_shapes(model)
    weights: Weights = {}
    eager = [layer for layer in model.layers if not layer.params.get("lazy")]
    for layer in [*eager, *(layer for layer in model.layers if layer.params.get("lazy"))]:  # lazy: at the dry run
        if layer.name not in shapes:
            continue
        params = shapes[layer.name]
        if layer.kind in ("linear", "conv2d"):
            fan = fan_in(layer.kind, layer.in_shape, layer.params)
            bound = _kaiming_bound(fan)
            weights[layer.name] = {"weight": generator.uniform_float32(params["weight"], -bound, bound)}
            if "bias" in params:
                bias_bound = 1 / math.sqrt(fan)
                weights[layer.name]["bias"] = generator.uniform_float32(params["bias"], -bias_bound, bias_bound)
        elif layer.kind == "batchnorm":
            ones, zeros = np.ones(params["weight"], np.float32), np.zeros(params["weight"], np.float32)
            weights[layer.name] = {
                "weight": ones,
                "bias": zeros,
                "running_mean": zeros.copy(),
                "running_var": ones.copy(),
            }
        elif layer.kind == "prelu":
            weights[layer.name] = {"weight": np.full(params["weight"], layer.params["init"], np.float32)}
    weights = {layer.name: weights[layer.name] for layer in model.layers if layer.name in weights}  # model order
    if model.init == "keras":
        _glorot(generator, model, weights)
    _drawn(generator, np.random.default_rng(model.seed), model, weights)
    for layer in model.layers:  # then the weights set by hand (torch_impl.calls.set_weights_calls)
        values = set_weights(layer)
        if values is not None:
            weights[layer.name] = {key: np.zeros_like(value) for key, value in weights[layer.name].items()}
            weights[layer.name]["weight"] = np.array(values, np.float32)
    return weights


def _drawn(generator: TorchCPUGenerator, normal: np.random.Generator, model: ModelSpec, weights: Weights) -> None:
    """Each layer drawn from a distribution (``torch_impl.calls.reinit``), in layer order."""
    for layer in model.layers:
        drawn = model.drawn(layer)
        if drawn is None:
            continue
        shape = weights[layer.name]["weight"].shape
        if drawn.kind == "uniform":
            weights[layer.name]["weight"] = generator.uniform_float32(shape, drawn.a, drawn.b)
        else:
            weights[layer.name]["weight"] = normal.normal(0.0, drawn.std, shape).astype(np.float32)
        if "bias" in weights[layer.name]:
            weights[layer.name]["bias"] = np.zeros_like(weights[layer.name]["bias"])


def _glorot(generator: TorchCPUGenerator, model: ModelSpec, weights: Weights) -> None:
    """``nn.init.xavier_uniform_`` on every weight, ``zeros_`` on every bias, in layer order."""
    for layer in model.layers:
        if layer.kind not in ("linear", "conv2d"):
            continue
        shape = weights[layer.name]["weight"].shape
        receptive = math.prod(shape[2:])
        fan_sum = (shape[1] + shape[0]) * receptive
        bound = math.sqrt(3.0) * math.sqrt(2.0 / fan_sum)
        weights[layer.name]["weight"] = generator.uniform_float32(shape, -bound, bound)
        if "bias" in weights[layer.name]:
            weights[layer.name]["bias"] = np.zeros_like(weights[layer.name]["bias"])
