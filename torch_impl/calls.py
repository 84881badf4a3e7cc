"""The spec language in PyTorch: every layer kind, loss, optimizer, scheduler and clipping as the call that makes it.

``build.py`` and ``train.py`` instantiate these calls, ``listing.py`` prints them: a
listing shows the very calls that build and train its column's model. Arguments are
written as a PyTorch user writes them, torch's defaults left out. Nothing here imports
torch: the names (``nn``, ``optim``) are resolved by ``build.NAMESPACE``.
"""

from __future__ import annotations

from collections.abc import Callable

from common.calls import Call, Name, Source, call, tensor_values
from common.runs.schedules import scheduler_kwargs
from spec.layers import pool_pads, set_weights
from spec.schema import Clip, LayerSpec, ModelSpec, Scheduler, TrainSpec

ModelCalls = list[tuple[str, Call]]  # (module name, the call that makes it), in order


def _conv2d(layer: LayerSpec) -> Call:
    p = layer.params
    kwargs: dict = {"in_channels": layer.in_shape[0], "out_channels": p["filters"], "kernel_size": p["kernel"]}
    if p["stride"] != 1:
        kwargs["stride"] = p["stride"]
    if p["padding"] not in (0, "valid"):
        kwargs["padding"] = p["padding"]
    if p["dilation"] != 1:
        kwargs["dilation"] = p["dilation"]
    if p["groups"] != 1:
        kwargs["groups"] = p["groups"]
    if not p["bias"]:
        kwargs["bias"] = False
    if p["padding_mode"] != "zeros":
        kwargs["padding_mode"] = p["padding_mode"]
    return call("nn.Conv2d", **kwargs)


def _pool2d(path: str, layer: LayerSpec) -> Call:
    """``padding: same`` as its pixels (``spec.layers.pool_pads``); an average over a window
    that ``same`` pads counts only the input's values, as TensorFlow's does."""
    kernel, stride = layer.params["kernel"], layer.params["stride"]
    kwargs: dict = {"kernel_size": kernel, **({"stride": stride} if stride != kernel else {})}
    pads = pool_pads(layer)
    if pads != (0, 0):
        kwargs["padding"] = pads[0] if pads[0] == pads[1] else pads
        if path == "nn.AvgPool2d" and layer.params["padding"] == "same":
            kwargs["count_include_pad"] = False
    return call(path, **kwargs)


PADS = {
    "zeros": "nn.ZeroPad2d",
    "reflect": "nn.ReflectionPad2d",
    "replicate": "nn.ReplicationPad2d",
    "circular": "nn.CircularPad2d",
    "constant": "nn.ConstantPad2d",
}


def _pad2d(layer: LayerSpec) -> Call:
    """An int pads every side; (height, width) is torch's (left, right, top, bottom)."""
    padding, mode = layer.params["padding"], layer.params["mode"]
    if isinstance(padding, tuple):
        padding = (padding[1], padding[1], padding[0], padding[0])
    return call(PADS[mode], padding, *([layer.params["value"]] if mode == "constant" else []))


def _batchnorm(layer: LayerSpec) -> Call:
    """torch's own defaults (momentum 0.1, eps 1e-5) go unsaid."""
    p = layer.params
    kwargs: dict = {"num_features": layer.in_shape[0]}
    if p["momentum"] != 0.1:
        kwargs["momentum"] = p["momentum"]
    if p["eps"] != 1e-5:
        kwargs["eps"] = p["eps"]
    return call("nn.BatchNorm2d" if len(layer.in_shape) == 3 else "nn.BatchNorm1d", **kwargs)


def _linear(layer: LayerSpec) -> Call:
    """``lazy``: ``nn.LazyLinear``, whose in_features the dry run after the build gives it
    (:func:`dry_run`): its weights are drawn then, not as it is made."""
    lazy = layer.params["lazy"]
    kwargs: dict = {} if lazy else {"in_features": layer.in_shape[0]}
    kwargs["out_features"] = layer.params["units"]
    if not layer.params["bias"]:
        kwargs["bias"] = False
    return call("nn.LazyLinear" if lazy else "nn.Linear", **kwargs)


LAYERS: dict[str, Callable[[LayerSpec], Call]] = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer: _pool2d("nn.MaxPool2d", layer),
    "avgpool2d": lambda layer: _pool2d("nn.AvgPool2d", layer),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": lambda layer: call("nn.Flatten"),
    "linear": _linear,
    "dropout": lambda layer: call("nn.Dropout", p=layer.params["p"]),
    "relu": lambda layer: call("nn.ReLU"),
    "leaky_relu": lambda layer: call("nn.LeakyReLU", negative_slope=layer.params["slope"]),
    "prelu": lambda layer: call("nn.PReLU", init=layer.params["init"]),  # one slope for all features
    "tanh": lambda layer: call("nn.Tanh"),
    "sigmoid": lambda layer: call("nn.Sigmoid"),
    "softmax": lambda layer: call("nn.Softmax", dim=-1),
    "log_softmax": lambda layer: call("nn.LogSoftmax", dim=-1),
}

# torch's layers take no activation argument: a fused one is a module of its own after them.
FUSED: dict[str, Call] = {"relu": call("nn.ReLU"), "softmax": call("nn.Softmax", dim=-1)}


def layer_calls(layer: LayerSpec) -> ModelCalls:
    """The modules a spec layer becomes: itself, then its fused activation, if any, named
    ``<layer>_<activation>``."""
    calls = [(layer.name, LAYERS[layer.kind](layer))]
    if layer.activation is not None:
        calls.append((layer.activation_name, FUSED[layer.activation]))
    return calls


def module_calls(model: ModelSpec, owner: str) -> list[Call]:
    """``owner.add_module(name, module)`` for every module of the model, in order: how the
    book fills its ``nn.Sequential`` (the Lightning listing's owner is ``self.model``)."""
    return [call(f"{owner}.add_module", name, made) for layer in model.layers for name, made in layer_calls(layer)]


# Normal draws come from a generator of their own (``nn.init.normal_(..., generator=...)``),
# seeded with the model's seed: the global generator's stream stays the one every other
# draw replays (``common.replay.torch_init``), which torch's normal_ could not be replayed in.
NORMAL_GENERATOR = "init_generator"


def reinit(model: ModelSpec, owner: str = "model") -> list[Call]:
    """What is drawn again after the build: ``init: keras``, Keras' defaults over torch's,
    layer by layer (``semantics.keras_init``); then each layer drawn from a distribution,
    ``nn.init.normal_`` or ``uniform_``, its bias zeroed. Nothing for torch's own."""
    initialised = any(layer.kind in ("linear", "conv2d") for layer in model.layers)
    made = [call("keras_init", Name(owner))] if model.init == "keras" and initialised else []
    for layer in model.layers:
        drawn = model.drawn(layer)
        if drawn is None:
            continue
        weight = Name(f"{owner}.{layer.name}.weight")
        if drawn.kind == "normal":
            made.append(call("nn.init.normal_", weight, std=drawn.std, generator=Name(NORMAL_GENERATOR)))
        else:
            made.append(call("nn.init.uniform_", weight, a=drawn.a, b=drawn.b))
        if layer.params["bias"]:
            made.append(call("nn.init.zeros_", Name(f"{owner}.{layer.name}.bias")))
    return made


def draws_normal(model: ModelSpec) -> bool:
    """Whether the build draws from :data:`NORMAL_GENERATOR`."""
    return any(drawn.kind == "normal" for drawn in map(model.drawn, model.layers) if drawn is not None)


def dry_run(model: ModelSpec, owner: str, input_shape: tuple[int, ...]) -> Call | None:
    """A model with lazy layers runs once on zeros of ``input_shape`` (without the batch
    axis) after the build: they take their sizes and draw their initial weights, in the
    order the batch reaches them. None without lazy layers."""
    if not any(layer.params.get("lazy") for layer in model.layers):
        return None
    return call(owner, call("torch.zeros", 1, *input_shape))


def set_weights_calls(model: ModelSpec, owner: str) -> list[Call]:
    """After the build, as the book sets its edge filter: the weights a spec sets by hand
    (biases from 0), and the layers it freezes (``requires_grad_(False)``: no gradient, so
    the optimizer passes them by)."""
    made = []
    for layer in model.layers:
        weights = set_weights(layer)
        if weights is not None:
            state = {"weight": call("torch.tensor", tensor_values(weights))}
            if layer.params["bias"]:
                state["bias"] = call("torch.zeros", layer.out_shape[0])
            made.append(call(f"{owner}.{layer.name}.load_state_dict", call("dict", **state)))
        if not layer.trainable:
            made.append(call(f"{owner}.{layer.name}.requires_grad_", False))
    return made


LOSSES: dict[str, Call] = {
    "bce": call("nn.BCELoss"),
    "bce_logits": call("nn.BCEWithLogitsLoss"),
    "cross_entropy": call("nn.CrossEntropyLoss"),
    "cross_entropy_probs": call("ProbsNLLLoss"),  # torch lacks it: semantics.ProbsNLLLoss, printed where used
    "nll": call("nn.NLLLoss"),
}


def _sgd(p: dict, parameters: Call) -> Call:
    kwargs: dict = {"lr": p["lr"]}
    if p["momentum"]:
        kwargs["momentum"] = p["momentum"]
    if p["nesterov"]:
        kwargs["nesterov"] = True
    return call("optim.SGD", parameters, **kwargs, **_decay(p, 0.0))


def _adam(p: dict, parameters: Call, path: str = "optim.Adam", decay: float = 0.0) -> Call:
    kwargs: dict = {"lr": p["lr"]}
    if tuple(p["betas"]) != (0.9, 0.999):
        kwargs["betas"] = tuple(p["betas"])
    if p["eps"] != 1e-8:
        kwargs["eps"] = p["eps"]
    return call(path, parameters, **kwargs, **_decay(p, decay))


def _rmsprop(p: dict, parameters: Call) -> Call:
    kwargs: dict = {"lr": p["lr"]}
    for key, default in (("alpha", 0.99), ("eps", 1e-8), ("momentum", 0.0)):
        if p[key] != default:
            kwargs[key] = p[key]
    return call("optim.RMSprop", parameters, **kwargs, **_decay(p, 0.0))


def _decay(p: dict, default: float) -> dict:
    return {"weight_decay": p["weight_decay"]} if p["weight_decay"] != default else {}


OPTIMIZERS: dict[str, Callable[[dict, Call], Call]] = {
    "sgd": _sgd,
    "adam": _adam,
    "adamw": lambda p, parameters: _adam(p, parameters, "optim.AdamW", 1e-2),
    "rmsprop": _rmsprop,
}


def optimizer_call(train: TrainSpec, parameters: Call) -> Call:
    """The spec's optimizer over ``parameters`` (``model.parameters()``; a LightningModule's
    ``configure_optimizers`` passes ``self.parameters()``), with what differs from torch's defaults."""
    return OPTIMIZERS[train.optimizer](train.optimizer_params, parameters)


# torch.optim.lr_scheduler's class for each scheduler of the spec language.
SCHEDULERS = {
    "step": "StepLR",
    "multistep": "MultiStepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "reduce_on_plateau": "ReduceLROnPlateau",
    "cyclic": "CyclicLR",
    "one_cycle": "OneCycleLR",
}


def scheduler_call(
    scheduler: Scheduler, epochs: int, steps_per_epoch: int, optimizer: Name = Name("optimizer")
) -> Call:
    """torch's scheduler over ``optimizer``, with what differs from its defaults. A cycle of
    ``epoch`` steps is the book's ``len(train_loader)``; one_cycle without ``total_steps``
    runs the ``n_epochs`` epochs of them that the loop trains."""
    batches = Source("len(train_loader)", steps_per_epoch)
    kwargs = scheduler_kwargs(scheduler, Source("n_epochs", epochs), batches, epochs_apart=True)
    return call(f"optim.lr_scheduler.{SCHEDULERS[scheduler.kind]}", optimizer, **kwargs)


# The book's clipping, called between backward() and step(): nn.utils' in-place clips of the
# parameters' gradients, and the name of the argument each takes its threshold as.
CLIPS = {"value": ("nn.utils.clip_grad_value_", "clip_value"), "norm": ("nn.utils.clip_grad_norm_", "max_norm")}


def clip_call(clip: Clip, parameters: Call) -> Call:
    """``clip`` on the gradients of ``parameters`` (``model.parameters()``)."""
    path, threshold = CLIPS[clip.by]
    return call(path, parameters, **{threshold: clip.threshold})
