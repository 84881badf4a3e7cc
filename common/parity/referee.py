"""The referee of exported models: a deployment runtime's outputs against the trained
model's, on the same images, judged by the model's own float32 round-off.

An exporter rewrites the graph (a division by 255 becomes a multiplication, a convolution
and its ReLU fuse, a runtime picks its own kernels and summation order), so its outputs
differ from the framework's in the last bits, by an amount that depends on the model, the
inputs and the CPU's kernels: no fixed figure bounds it on every machine. The floor is
measured instead, in the same run: the trained model again, in its own framework, with
every weight and every input value moved one float32 ulp up or down at random (the stand-in
for another correct float32 implementation that the lockstep verdicts use), and at least the
model's own round-off estimate, sqrt(n) u of the largest output for its longest dot product
of n terms. An export passes when its largest difference is within ``DEPLOY_K`` floors and
every image gets the trained model's class, except where the trained model's top two
outputs lie within twice the bound of each other (a tie that round-off may break either way).
Framework-free: the caller runs the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from common.files.weights import Weights
from common.parity.stats import FLOAT32_UNIT
from common.runs.metrics import predicted_classes
from spec.layers import fan_in
from spec.schema import ModelSpec

# Measured on cnn1 (two and twenty epochs), mnist_cnn_slides and tests/specs/every_layer.yaml
# (both layouts) in every column and format: an export is at most 0.83 of its floor away
# (tf's LiteRT file of a two-epoch cnn1; 0.67 under the AVX2 emulation of "Lockstep"). 16,
# the lockstep verdicts' factor, leaves room for other CPUs' kernels, and a wrong export (a
# lost normalisation, one bias off by 1e-4) lands beyond it (tests/test_deploy.py).
DEPLOY_K = 16.0
NUDGES = 2  # round-off runs of the trained model per floor
DOTS = ("linear", "conv2d")  # the layers that sum products


def nudged(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every float32 value one ulp up or down, at random."""
    values = np.asarray(values, np.float32)
    return np.nextafter(values, np.where(rng.random(values.shape) < 0.5, np.inf, -np.inf).astype(np.float32))


def nudged_weights(weights: Weights, rng: np.random.Generator) -> Weights:
    return {layer: {key: nudged(value, rng) for key, value in params.items()} for layer, params in weights.items()}


def forward_rounding(model: ModelSpec) -> float:
    """sqrt(n) u relative, for the model's longest dot product of n terms (a linear layer's
    inputs, a conv's channels x kernel): what a sum in another order is typically off by."""
    lengths = [fan_in(layer.kind, layer.in_shape, layer.params) for layer in model.layers if layer.kind in DOTS]
    return FLOAT32_UNIT * math.sqrt(max(lengths, default=1))


@dataclass(frozen=True)
class Floor:
    """How far the trained model's own float32 round-off moves its outputs."""

    measured: float  # the nudged runs' largest |difference| from the trained model's outputs
    estimate: float  # forward_rounding times the largest |output|

    @property
    def value(self) -> float:
        return max(self.measured, self.estimate)

    @property
    def reason(self) -> str:
        if self.measured >= self.estimate:
            return f"{DEPLOY_K:g} x the trained model's round-off, weights and inputs one ulp off ({self.measured:.2g})"
        return f"{DEPLOY_K:g} x sqrt(n) u of its largest output ({self.estimate:.2g})"


def output_floor(model: ModelSpec, reference: np.ndarray, nudged_outputs: list[np.ndarray]) -> Floor:
    """The floor from the trained model's outputs and those of its nudged runs."""
    reference = np.asarray(reference, np.float64)
    measured = max(float(np.abs(np.asarray(out, np.float64) - reference).max()) for out in nudged_outputs)
    return Floor(measured, forward_rounding(model) * float(np.abs(reference).max()))


@dataclass(frozen=True)
class DeployParity:
    """One exported model's outputs against the trained model's, on the same images."""

    column: str
    format: str
    runtime: str
    max_abs_diff: float
    agreeing: int  # images whose class is the trained model's
    ties: int  # of the others, those whose trained top two outputs lie within twice the bound
    total: int
    floor: Floor

    @property
    def bound(self) -> float:
        return DEPLOY_K * self.floor.value

    @property
    def agreement(self) -> float:
        return self.agreeing / self.total

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.bound and self.agreeing + self.ties == self.total

    def figures(self) -> dict:
        """What ``parity --json`` holds."""
        return {
            "column": self.column,
            "format": self.format,
            "runtime": self.runtime,
            "images": self.total,
            "max_abs_diff": self.max_abs_diff,
            "argmax_agreement": self.agreement,
            "ties": self.ties,
            "floor": self.floor.value,
            "bound": self.bound,
            "reason": self.floor.reason,
            "passed": self.passed,
        }


def judge(
    column: str, fmt: str, runtime: str, reference: np.ndarray, outputs: np.ndarray, loss: str, floor: Floor
) -> DeployParity:
    """``outputs`` (the runtime's) against ``reference`` (the trained model's) for the same images."""
    reference, outputs = np.asarray(reference, np.float64), np.asarray(outputs, np.float64)
    if outputs.shape != reference.shape:
        raise ValueError(f"{fmt}: outputs of shape {outputs.shape}, the trained model's {reference.shape}")
    expected, got = predicted_classes(reference, loss), predicted_classes(outputs, loss)
    differ = np.flatnonzero(expected != got)
    bound = DEPLOY_K * floor.value
    if loss in ("bce", "bce_logits"):
        margins = np.abs(reference.reshape(-1)[differ] - (0.5 if loss == "bce" else 0.0))
    else:
        margins = reference[differ, expected[differ]] - reference[differ, got[differ]]
    diff = float(np.abs(outputs - reference).max()) if reference.size else 0.0
    return DeployParity(
        column=column,
        format=fmt,
        runtime=runtime,
        max_abs_diff=diff,
        agreeing=len(expected) - len(differ),
        ties=int(np.count_nonzero(margins <= 2 * bound)),
        total=len(expected),
        floor=floor,
    )
