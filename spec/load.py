"""From a YAML file to a validated, shape-checked :class:`Spec`."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from spec.errors import SpecError, TwinspecError, excerpt
from spec.fields import (
    REQUIRED,
    Invalid,
    Section,
    as_list,
    at_least,
    boolean,
    fraction,
    identifier,
    list_of,
    non_negative_int,
    non_negative_number,
    number,
    number_or_word,
    one_of,
    positive_int,
    positive_number,
    probability,
    seed,
    single_key,
    text,
)
from spec.layers import LAYER_KINDS, ShapeError, drawn, fan_in
from spec.schema import (
    INITS,
    LAYOUTS,
    LOSSES,
    SAMPLERS,
    Clip,
    DatasetSpec,
    DataSpec,
    Drawn,
    LayerSpec,
    ModelSpec,
    Scheduler,
    SourceSpec,
    Spec,
    TrainSpec,
)
from spec.yaml_lines import load_yaml

SPEC_DIR = Path(__file__).resolve().parent / "models"
LOCATED_KEYS = ("data.split", "data.batch_size", "train.epochs")  # kept in Spec.lines for errors found later
PADDED_IN_PIXELS = ("conv2d", "maxpool2d", "avgpool2d")  # Keras pads them in a layer of their own, <name>_pad
# Layer names a column gives layers of its own: the layout permutes, and Keras' input.
RESERVED_NAMES = ("nchw_to_nhwc", "nhwc_to_nchw", "input_layer")
# The public attributes of torch's nn.Sequential (torch 2.14): add_module refuses a child
# of the same name. Names that start with "_" (its private attributes) are refused too.
# tests/test_bad_input.py checks this list against the installed torch.
TORCH_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "add_module",
        "append",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extend",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "insert",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "pop",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)
# Generous estimates of the bytes each value takes while a run trains: a dataset's pixel
# (the uint8 cache, the float32 split, a normalised copy, the framework's tensors), and a
# parameter or an activation (float32 value, gradient, two Adam moments).
BYTES_PER_PIXEL = 16
BYTES_PER_PARAMETER = 16


def physical_memory() -> int:
    """This machine's RAM in bytes: what no run can exceed."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not a POSIX system: assume a laptop's
        return 16 * 2**30


def _size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def list_specs() -> list[Spec]:
    """Every spec shipped under ``spec/models``, sorted by name."""
    return [load_spec(path) for path in sorted(SPEC_DIR.glob("*.yaml"))]


def resolve_spec(name_or_path: str) -> Path:
    """A shipped spec's name (``relu``) or a path to any spec file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    path = SPEC_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        names = ", ".join(p.stem for p in sorted(SPEC_DIR.glob("*.yaml")))
        raise TwinspecError(f"unknown model '{name_or_path}' (choose from: {names})")
    return path


def load_spec(path: Path | str, dataset: DatasetSpec | None = None) -> Spec:
    """Load and check a spec; ``dataset`` replaces its own (the user's data, ``--data``)."""
    path = Path(path)
    top = Section(path, load_yaml(path), "", 1)
    name = top.get("name", identifier)
    title = top.get("title", text)
    layout = top.get("layout", one_of(*LAYOUTS), None)
    data = _data(top.section("data"), dataset)
    model = _model(top.section("model"), data.dataset, data.batch_size)
    train = _train(top.section("train"))
    top.done()
    _check_head(path, model, train.loss, data.dataset.n_classes)
    lines = {key: _line_of(top.mapping, key) for key in LOCATED_KEYS}
    return Spec(name=name, title=title, path=path, layout=layout, data=data, model=model, train=train, lines=lines)


def _line_of(mapping: Any, key: str) -> int:
    *parents, last = key.split(".")
    for parent in parents:
        mapping = mapping[parent]
    return mapping.lines.get(last, mapping.line)


# -- data ---------------------------------------------------------------------------


def _dataset(sec: Section) -> DatasetSpec:
    kind = sec.get("kind", one_of("lines", "colors"))
    size = sec.get(
        "img_size",
        at_least(2, "an integer of at least 2") if kind == "lines" else at_least(4, "an integer of at least 4"),
    )
    params = {"img_size": size, "n_images": sec.get("n_images", positive_int)}
    if kind == "lines":
        params["binary"] = sec.get("binary", boolean)
    else:
        params["n_classes"] = sec.get("n_classes", one_of(2, 3), 3)
    params["seed"] = sec.get("seed", seed)
    sec.done()
    channels = 1 if kind == "lines" else 3
    per_image = channels * size * size * BYTES_PER_PIXEL
    needed = params["n_images"] * per_image
    if needed > physical_memory():
        key = "img_size" if 1000 * per_image > physical_memory() else "n_images"  # a thousand would not fit either
        raise sec.error(
            key,
            f"{params['n_images']} images of {channels}x{size}x{size} need about {_size(needed)} to train on;"
            f" this machine has {_size(physical_memory())}",
        )
    if kind == "lines":
        return DatasetSpec(kind, params, (1, size, size), 2 if params["binary"] else 3)
    return DatasetSpec(kind, params, (3, size, size), params["n_classes"])


def _source(sec: Section) -> SourceSpec:
    kind = sec.get("kind", one_of("mnist", "cifar10", "image_folder"))
    params: dict[str, Any] = {}
    if kind == "cifar10":
        params["classes"] = sec.get("classes", list_of(text), None)
        if params["classes"] is not None and len(params["classes"]) < 2:
            raise sec.error("classes", "data.source.classes must name two or more classes: one class is no classifier")
    elif kind == "image_folder":
        params["size"] = sec.get("size", list_of(positive_int, length=2))
        params["channels"] = sec.get("channels", one_of(1, 3), 3)
    sec.done()
    return SourceSpec(kind, params)


def _fractions(value: Any) -> tuple[float, ...]:
    expected = "two fractions (train, validation) or three (train, validation, test) that sum to 1"
    try:
        fractions = list_of(positive_number)(value)
    except Invalid:
        raise Invalid(expected) from None
    if len(fractions) not in (2, 3) or not math.isclose(sum(fractions), 1.0):
        raise Invalid(expected)
    return fractions


def _slides_scale(value: Any) -> int:
    if isinstance(value, bool) or value != 255:
        raise Invalid("255: images are uint8, scaled by 1/255 to [0, 1] (the slides' x / 255)")
    return 255


def _normalize(sec: Section, channels: int) -> tuple[str, tuple | None, tuple | None]:
    """``normalize``: absent, ``auto``, ``{scale: 255}`` or ``{mean: [...], std: [...]}``."""
    value = sec.raw("normalize", None)
    if value is None:
        return "none", None, None
    if value == "auto":
        return "auto", None, None
    if isinstance(value, dict) and "scale" in value:
        norm = sec.section("normalize")
        norm.get("scale", _slides_scale)
        norm.done()
        return "scale", None, None
    if not isinstance(value, dict):
        expected = "auto, {scale: 255} or {mean: [...], std: [...]}"
        raise sec.error("normalize", f"data.normalize must be {expected}, got {value!r}")
    norm = sec.section("normalize")
    mean = norm.get("mean", list_of(number, length=channels))
    std = norm.get("std", list_of(positive_number, length=channels))
    norm.done()
    return "stats", mean, std


def _data(sec: Section, user_dataset: DatasetSpec | None) -> DataSpec:
    dataset = _dataset(sec.section("dataset"))
    source = _source(sec.section("source")) if sec.raw("source", None) is not None else None
    if user_dataset is not None:
        if source is None:
            raise sec.error(None, "this spec names no data.source, so it cannot load the files given with --data")
        dataset = user_dataset
    split = sec.section("split")
    fractions = split.get("fractions", _fractions)
    split_seed = split.get("seed", seed)
    split.done()

    hflip, seen = 0.0, set()
    augment = as_list(sec.path, sec.raw("augment", []), "data.augment", sec.line_of("augment"))
    for i, item in enumerate(augment):
        kind, body, line = single_key(sec.path, item, "augmentation", augment.lines[i], {"hflip": None})
        if kind in seen:
            raise SpecError(sec.path, line, f"{kind} is given twice")
        seen.add(kind)
        try:
            hflip = probability(body)
        except Invalid as exc:
            raise SpecError(sec.path, line, f"hflip must be {exc}, got {excerpt(body)}") from None

    normalize, mean, std = _normalize(sec, dataset.input_shape[0])

    data = DataSpec(
        dataset=dataset,
        split_fractions=fractions,
        split_seed=split_seed,
        sampler=sec.get("sampler", one_of(*SAMPLERS), "shuffle"),
        hflip=hflip,
        mean=mean,
        std=std,
        batch_size=sec.get("batch_size", positive_int),
        source=source,
        normalize=normalize,
    )
    sec.done()
    return data


# -- model --------------------------------------------------------------------------


def _check_layer_memory(
    path: Path, line: int, name: str, kind: str, shape: tuple, out_shape: tuple, params: dict, batch_size: int
) -> None:
    """Refuse a layer whose weights, or one batch of its outputs, cannot fit in memory."""
    weights = fan_in(kind, shape, params) * out_shape[0] if kind in ("linear", "conv2d") else 0
    outputs = batch_size * math.prod(out_shape)
    needed = (weights + outputs) * BYTES_PER_PARAMETER
    if needed > physical_memory():
        raise SpecError(
            path,
            line,
            f"layer '{name}' ({kind}): {weights} weights and {outputs} outputs per batch need about {_size(needed)}"
            f" to train; this machine has {_size(physical_memory())}",
        )


def _init(value: Any) -> str | Drawn:
    """A framework's default initial weights, or a distribution to draw every weight from."""
    if value in INITS:
        return value
    if not isinstance(value, dict):
        raise Invalid(f"{', '.join(INITS)}, {{normal: {{std}}}} or {{uniform: {{a, b}}}}")
    return drawn(value)


def _model(sec: Section, dataset: DatasetSpec, batch_size: int) -> ModelSpec:
    model_seed = sec.get("seed", seed)
    init = sec.get("init", _init, "torch")
    items = as_list(sec.path, sec.raw("layers"), "model.layers", sec.line_of("layers"))
    if not items:
        raise sec.error("layers", "model.layers must list at least one layer")
    shape: tuple[int, ...] = dataset.input_shape
    layers: list[LayerSpec] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        kind, body, line = single_key(sec.path, item, "layer kind", items.lines[i], LAYER_KINDS)
        layer_sec = Section(sec.path, body, kind, line)
        name = layer_sec.get("name", identifier)
        if name in names:
            raise SpecError(sec.path, line, f"layer name '{name}' is used twice")
        if name in RESERVED_NAMES:
            raise SpecError(sec.path, line, f"layer name '{name}' is reserved for a layer the columns add")
        if name.startswith("_") or name in TORCH_ATTRIBUTES:
            raise SpecError(sec.path, line, f"layer name '{name}' is taken by an attribute of torch's nn.Sequential")
        names.add(name)
        spec_kind = LAYER_KINDS[kind]
        params = spec_kind.finish(
            {key: layer_sec.get(key, check, default) for key, (check, default) in spec_kind.params.items()}
        )
        layer_sec.done()
        if params.get("units") == "classes":
            params["units"] = dataset.n_classes
        try:
            out_shape = spec_kind.infer(shape, params)
        except ShapeError as exc:
            raise SpecError(sec.path, line, f"layer '{name}' ({kind}) {exc}") from None
        _check_layer_memory(sec.path, line, name, kind, shape, out_shape, params, batch_size)
        layers.append(LayerSpec(kind, name, params, shape, out_shape, line))
        shape = out_shape
    sec.done()
    for layer in layers:  # keras puts a conv's or a pool's padding in pixels in a layer of its own
        if layer.kind in PADDED_IN_PIXELS and layer.params["padding"] not in (0, "valid", "same"):
            clash = next((other for other in layers if other.name == f"{layer.name}_pad"), None)
            if clash is not None:
                raise SpecError(
                    sec.path, clash.line, f"layer name '{clash.name}' is taken by the padding of '{layer.name}'"
                )
        if layer.activation is not None:  # torch adds a fused activation as a module of its own
            clash = next((other for other in layers if other.name == layer.activation_name), None)
            if clash is not None:
                raise SpecError(
                    sec.path, clash.line, f"layer name '{clash.name}' is taken by the activation of '{layer.name}'"
                )
    return ModelSpec(seed=model_seed, init=init, layers=tuple(layers))


def _check_head(path: Path, model: ModelSpec, loss: str, n_classes: int) -> None:
    """Reject a model whose output cannot feed its loss (a classic silent bug)."""
    last = model.layers[-1]
    out = model.output_shape
    ends_in = last.activation or last.kind  # a fused activation is the layer's output

    def fail(message: str) -> SpecError:
        return SpecError(path, last.line, f"model output {out} from layer '{last.name}' {message}")

    binary = loss in ("bce", "bce_logits")
    if binary and n_classes != 2:  # one output for three classes would fit the shape, not the labels
        raise fail(f"cannot use loss {loss}: the dataset has {n_classes} classes")
    expected = (1,) if binary else (n_classes,)
    if out != expected:
        raise fail(f"does not fit loss {loss} on {n_classes} classes: expected shape {expected}")
    if loss == "bce" and ends_in != "sigmoid":
        raise fail("must be probabilities for loss bce: end with a sigmoid layer, or use bce_logits")
    if loss in ("bce_logits", "cross_entropy") and ends_in in ("sigmoid", "softmax"):
        raise fail(f"must be logits for loss {loss}: drop the final {ends_in}")
    if loss == "cross_entropy_probs" and ends_in != "softmax":
        raise fail("must be probabilities for loss cross_entropy_probs: end with a softmax, or use cross_entropy")
    if loss == "nll" and ends_in != "log_softmax":
        raise fail("must be log-probabilities for loss nll: end with a log_softmax layer")


# -- train --------------------------------------------------------------------------

# torch's optimizers, their parameters and defaults. ``weight_decay`` is torch's: added to the
# gradient (L2) on SGD, Adam and RMSprop; AdamW's shrinks the weights apart (decoupled).
ADAM = {"betas": (list_of(fraction, length=2), (0.9, 0.999)), "eps": (positive_number, 1e-8)}
OPTIMIZERS = {
    "sgd": {
        "lr": (positive_number, REQUIRED),
        "momentum": (fraction, 0.0),
        "nesterov": (boolean, False),
        "weight_decay": (non_negative_number, 0.0),
    },
    "adam": {"lr": (positive_number, 1e-3), **ADAM, "weight_decay": (non_negative_number, 0.0)},
    "adamw": {"lr": (positive_number, 1e-3), **ADAM, "weight_decay": (non_negative_number, 1e-2)},
    "rmsprop": {
        "lr": (positive_number, 1e-2),
        "alpha": (fraction, 0.99),
        "eps": (positive_number, 1e-8),
        "momentum": (fraction, 0.0),
        "weight_decay": (non_negative_number, 0.0),
    },
}


def _train(sec: Section) -> TrainSpec:
    loss = sec.get("loss", one_of(*LOSSES))
    kind, body, line = single_key(sec.path, sec.raw("optimizer"), "optimizer", sec.line_of("optimizer"), OPTIMIZERS)
    opt = Section(sec.path, body, f"optimizer {kind}", line)
    params = {key: opt.get(key, check, default) for key, (check, default) in OPTIMIZERS[kind].items()}
    opt.done()
    if kind == "sgd" and params["nesterov"] and params["momentum"] <= 0:
        raise SpecError(sec.path, line, "nesterov momentum needs momentum > 0")
    train = TrainSpec(
        loss=loss,
        optimizer=kind,
        optimizer_params=params,
        epochs=sec.get("epochs", positive_int),
        seed=sec.get("seed", seed),
        clip=_clip(sec),
        scheduler=_scheduler(sec, kind, params),
    )
    sec.done()
    return train


CLIPS = ("value", "norm")  # schema.Clip: torch's clip_grad_value_ and clip_grad_norm_


def _clip(sec: Section) -> Clip | None:
    """``clip: {value: X}`` or ``clip: {norm: X}``, X > 0; no clipping without it."""
    if sec.raw("clip", None) is None:
        return None
    by, _, line = single_key(sec.path, sec.raw("clip"), "clip", sec.line_of("clip"), CLIPS)
    clip = Section(sec.path, sec.raw("clip"), "train.clip", line)
    threshold = clip.get(by, positive_number)
    clip.done()
    return Clip(by, threshold)


def _below_one(value: Any) -> float:
    """A factor that shrinks: in (0, 1), as ReduceLROnPlateau's ``factor``."""
    if not 0 < number(value) < 1:
        raise Invalid("a number in (0, 1)")
    return float(value)


def _increasing(value: Any) -> tuple[int, ...]:
    milestones = list_of(positive_int)(value)
    if list(milestones) != sorted(set(milestones)):
        raise Invalid("a list of increasing epochs")
    return milestones


# Steps of a cycle's half: a count, or ``epoch`` for the batches of one epoch (the book's
# ``step_size_up=len(train_loader)``), known once the training loader is.
_STEPS = number_or_word(positive_int, "epoch", expected="a positive integer of steps, or epoch")
_MOMENTUM = {"cycle_momentum": (boolean, True)}

# torch's schedulers (torch.optim.lr_scheduler), their parameters and defaults as torch's.
# reduce_on_plateau watches the validation loss (torch's mode "min"); one_cycle runs for
# total_steps, by default the spec's epochs times the batches of an epoch.
SCHEDULERS = {
    "step": {"step_size": (positive_int, REQUIRED), "gamma": (positive_number, 0.1)},
    "multistep": {"milestones": (_increasing, REQUIRED), "gamma": (positive_number, 0.1)},
    "exponential": {"gamma": (positive_number, REQUIRED)},
    "cosine": {"T_max": (positive_int, REQUIRED), "eta_min": (non_negative_number, 0.0)},
    "reduce_on_plateau": {
        "factor": (_below_one, 0.1),
        "patience": (non_negative_int, 10),
        "threshold": (non_negative_number, 1e-4),
        "threshold_mode": (one_of("rel", "abs"), "rel"),
        "cooldown": (non_negative_int, 0),
        "min_lr": (non_negative_number, 0.0),
        "eps": (non_negative_number, 1e-8),
    },
    "cyclic": {
        "base_lr": (positive_number, REQUIRED),
        "max_lr": (positive_number, REQUIRED),
        "step_size_up": (_STEPS, 2000),
        "step_size_down": (_STEPS, None),
        "mode": (one_of("triangular", "triangular2", "exp_range"), "triangular"),
        "gamma": (positive_number, 1.0),
        **_MOMENTUM,
        "base_momentum": (fraction, 0.8),
        "max_momentum": (fraction, 0.9),
    },
    "one_cycle": {
        "max_lr": (positive_number, REQUIRED),
        "total_steps": (positive_int, None),
        "pct_start": (probability, 0.3),
        "anneal_strategy": (one_of("cos", "linear"), "cos"),
        **_MOMENTUM,
        "base_momentum": (fraction, 0.85),
        "max_momentum": (fraction, 0.95),
        "div_factor": (positive_number, 25.0),
        "final_div_factor": (positive_number, 1e4),
        "three_phase": (boolean, False),
    },
}


def _scheduler(sec: Section, optimizer: str, optimizer_params: dict) -> Scheduler | None:
    """``scheduler: {kind: {...}}``, torch's, stepped as torch steps it; none without it."""
    if sec.raw("scheduler", None) is None:
        return None
    kind, body, line = single_key(sec.path, sec.raw("scheduler"), "scheduler", sec.line_of("scheduler"), SCHEDULERS)
    scheduler = Section(sec.path, body, f"scheduler {kind}", line)
    params = {key: scheduler.get(key, check, default) for key, (check, default) in SCHEDULERS[kind].items()}
    scheduler.done()
    if params.get("cycle_momentum") and not (optimizer == "sgd" and optimizer_params["momentum"] > 0):
        raise SpecError(
            sec.path,
            scheduler.line_of("cycle_momentum"),
            f"scheduler {kind} cycles SGD's momentum: it needs optimizer sgd with momentum > 0 "
            "(torch would cycle another optimizer's momentum or beta1, which the spec language does not), "
            "or cycle_momentum: false",
        )
    return Scheduler(kind, params)
