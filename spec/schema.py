"""The neutral model description that every column compiles.

Everything here is validated and shape-checked; a column never has to second-guess it.
Shapes are ``(C, H, W)`` whatever layout a column computes in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYOUTS = ("nchw", "nhwc")
SAMPLERS = ("balanced", "shuffle", "sequential")
LOSSES = ("bce", "bce_logits", "cross_entropy", "cross_entropy_probs", "nll")
# data.normalize: none (absent), stats (given mean and std), auto (mean and std of the
# training split, computed at run time), scale (the slides' plain /255, which every
# image gets anyway: no further step)
NORMALIZE = ("none", "stats", "auto", "scale")
# model.init: the default initial weights a spec asks for, by the framework that defaults to
# them; every column draws each (a column's registry entry names its framework's own).
INITS = ("torch", "keras")
DRAWN = ("normal", "uniform")  # or weights drawn from a distribution, for the model or one layer
# Layers that map each feature to itself: a flatten's feature order passes through them.
FEATURE_WISE = ("dropout", "relu", "leaky_relu", "prelu", "tanh", "sigmoid", "batchnorm")


@dataclass(frozen=True)
class DatasetSpec:
    kind: str
    params: dict[str, Any]
    input_shape: tuple[int, int, int]
    n_classes: int


@dataclass(frozen=True)
class SourceSpec:
    """The real dataset a spec was written for, loaded from the user's files (``--data``)."""

    kind: str  # mnist, cifar10 or image_folder
    params: dict[str, Any]


@dataclass(frozen=True)
class DataSpec:
    dataset: DatasetSpec
    split_fractions: tuple[float, ...]
    split_seed: int
    sampler: str
    hflip: float  # probability of a horizontal flip, training split only; 0 for none
    mean: tuple[float, ...] | None  # None: no normalisation, or auto before the run resolves it
    std: tuple[float, ...] | None
    batch_size: int
    source: SourceSpec | None = None
    normalize: str = "stats"  # one of NORMALIZE: how mean and std came about (see NORMALIZE)

    @property
    def has_test_split(self) -> bool:
        """Three split fractions: train, validation, test. A dataset with a test set of its
        own (MNIST, CIFAR-10) then keeps that as the test split; with two, it validates."""
        return len(self.split_fractions) == 3


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    name: str
    params: dict[str, Any]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    line: int

    @property
    def activation(self) -> str | None:
        """The activation fused into a conv2d or linear layer (Keras' ``activation=``), if any."""
        return self.params.get("activation")

    @property
    def trainable(self) -> bool:
        """False for a layer the spec freezes (``trainable: false``): training leaves it as built."""
        return self.params.get("trainable", True)

    @property
    def activation_name(self) -> str:
        """The name of the separate module that applies a fused activation where a framework
        has no such argument (torch's ``nn.ReLU`` after ``nn.Conv2d``)."""
        return f"{self.name}_{self.activation}"


@dataclass(frozen=True)
class Drawn:
    """Initial weights drawn from a distribution, as torch's ``nn.init.normal_(w, std=...)``
    (mean 0) or ``nn.init.uniform_(w, a, b)``; the biases start at zero, as Keras' and
    Flax's layers start them. Every column draws them with its own generator; lockstep
    draws them once, in numpy, for every column (``common.replay.torch_init``)."""

    kind: str  # normal or uniform
    std: float = 1.0
    a: float = 0.0
    b: float = 1.0


def drawn_init(layer: LayerSpec, init: str | Drawn) -> Drawn | None:
    """The distribution a linear or conv layer's weights are drawn from: its own, else the
    model's ``init``; None for a framework's default, or for weights set by hand."""
    if layer.kind not in ("linear", "conv2d") or layer.params["weights"] is not None:
        return None
    own = layer.params["init"]
    return own if own is not None else init if isinstance(init, Drawn) else None


@dataclass(frozen=True)
class ModelSpec:
    seed: int
    # "torch": kaiming-uniform(a=sqrt 5), fan-in bias; "keras": glorot-uniform, zero bias; or
    # every weight drawn from a distribution (a layer's own ``init`` comes first)
    init: str | Drawn
    layers: tuple[LayerSpec, ...]

    def drawn(self, layer: LayerSpec) -> Drawn | None:
        return drawn_init(layer, self.init)

    @property
    def frozen(self) -> tuple[str, ...]:
        """The layers the spec freezes (``trainable: false``), by name."""
        return tuple(layer.name for layer in self.layers if not layer.trainable)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape

    @property
    def dropout_layers(self) -> list[str]:
        """Names of the dropout layers, in order: a lockstep plan holds a mask per batch for each."""
        return [layer.name for layer in self.layers if layer.kind == "dropout"]

    def layer(self, name: str) -> LayerSpec:
        return next(layer for layer in self.layers if layer.name == name)

    def flattened_from(self, name: str) -> tuple[int, ...] | None:
        """The (C, H, W) map whose flattening feeds layer ``name`` feature for feature, if any.

        Torch flattens C, H, W and Keras H, W, C, so a linear layer's input rows (and a
        batchnorm's per-feature vectors) after a flatten are ordered differently in the two
        frameworks. Only layers that keep each feature in place are looked through.
        """
        index = next(i for i, layer in enumerate(self.layers) if layer.name == name)
        for layer in reversed(self.layers[:index]):
            if layer.kind == "flatten":
                return layer.in_shape if len(layer.in_shape) == 3 else None
            if layer.kind not in FEATURE_WISE:
                return None
        return None


@dataclass(frozen=True)
class Clip:
    """Gradients clipped before each update, as torch clips them: ``by`` ``value``, each one
    clamped to [-threshold, threshold] (``clip_grad_value_``); ``norm``, all of them scaled
    together to a 2-norm of at most threshold (``clip_grad_norm_``)."""

    by: str
    threshold: float


# torch's schedulers that step after every batch; the others step after every epoch.
PER_STEP_SCHEDULERS = ("cyclic", "one_cycle")


@dataclass(frozen=True)
class Scheduler:
    """A learning-rate scheduler of torch's ``lr_scheduler``, its parameters named and defaulted
    as torch's (``step_size_up: epoch`` is the book's ``len(train_loader)``)."""

    kind: str
    params: dict[str, Any]

    @property
    def per_step(self) -> bool:
        return self.kind in PER_STEP_SCHEDULERS

    @property
    def watches_loss(self) -> bool:
        """Whether it steps on the validation loss (ReduceLROnPlateau)."""
        return self.kind == "reduce_on_plateau"


@dataclass(frozen=True)
class TrainSpec:
    loss: str
    optimizer: str
    optimizer_params: dict[str, Any]
    epochs: int
    seed: int
    clip: Clip | None = None
    scheduler: Scheduler | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    path: Path
    layout: str | None  # None: each column's own (torch nchw, keras nhwc)
    data: DataSpec
    model: ModelSpec
    train: TrainSpec
    # The YAML line of each of load.LOCATED_KEYS ("data.split", ...), for errors that only the data can reveal.
    lines: dict[str, int] = dataclasses.field(default_factory=dict, compare=False)

    def with_overrides(
        self, *, epochs: int | None = None, seed: int | None = None, init: str | Drawn | None = None
    ) -> Spec:
        """The same spec with the command line's ``--epochs`` / ``--seed`` applied, or another ``model.init``."""
        spec = self
        if init is not None:
            spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, init=init))
        if epochs is not None:
            spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=epochs))
        if seed is not None:
            spec = dataclasses.replace(
                spec,
                model=dataclasses.replace(spec.model, seed=seed),
                train=dataclasses.replace(spec.train, seed=seed),
            )
        return spec

    def layout_for(self, backend_default: str, override: str | None = None) -> str:
        return override or self.layout or backend_default
