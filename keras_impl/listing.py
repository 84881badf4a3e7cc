"""``run.py show --backend keras``: a spec as the Keras source the slides would write for it.

The listing is plain Keras 3 in the style of the course's slides: channels-last numpy
arrays, ``keras.Sequential`` with a list of named layers, ``compile`` and ``fit``, and a
``keras.utils.PyDataset`` only where the spec samples or flips in a way ``fit`` cannot.
Only its data section calls twinspec (the framework-free generator and split), so that a
spec's PyTorch and Keras listings train on the same bytes; everything else is written out
from the spec, with every layer mapped as ``keras_impl/build.py`` maps it. It draws the
same initial weights as ``keras_impl.build.build_model`` in ``nhwc``; its training draws
are its own.

Sections, in the listing's order (the same in ``torch_impl/listing.py``): header, imports,
data, input pipeline, model, loss and optimizer, training. Nothing here imports Keras: a
listing is text, and its line ``n_epochs = N`` is the one place that sets the epoch count.
"""

from __future__ import annotations

from pathlib import Path

from common.present.source import (
    Call,
    Code,
    binary_loss,
    call_args,
    code,
    definition,
    header,
    join_blocks,
    literal,
    render,
    spec_path,
)
from spec.layers import fan_in
from spec.schema import LayerSpec, Spec

FRAMEWORK = "Keras 3, in the style of the course's slides"
SEMANTICS = Path(__file__).with_name("semantics.py")  # the classes Keras lacks, printed from their source


def listing(spec: Spec) -> str:
    """The whole listing: one script that trains ``spec`` when run from the repository root."""
    return join_blocks(
        [
            _header(spec),
            _imports(spec),
            *_data(spec),
            *_pipeline(spec),
            *_model(spec),
            *_loss_and_optimizer(spec),
            *_training(spec),
        ]
    )


# -- sections, in the listing's order ---------------------------------------------------


def _header(spec: Spec) -> str:
    return header(spec, FRAMEWORK)


def _imports(spec: Spec) -> str:
    lines = ["import math", ""] if _batches(spec) or (spec.model.init == "torch" and _initialised(spec)) else []
    lines.append("import keras")
    if _batches(spec) or _normalizes(spec):
        lines.append("import numpy as np")
    lines.append("from keras import layers")
    return "\n".join([*lines, "", *TWINSPEC_IMPORTS])


TWINSPEC_IMPORTS = [
    "from common.data.datasets import load_dataset",
    "from common.data.prep import split_dataset",
    "from spec import load_spec",
]


def _data(spec: Spec) -> list[str]:
    """twinspec's arrays channels-last, normalised in numpy; BCE wants float ``(N, 1)`` targets."""
    if binary_loss(spec):
        targets, comment_y = 'split.y_{}.reshape(-1, 1).astype("float32")', "BCE wants float (N, 1) targets"
    else:
        targets, comment_y = "split.y_{}", "class indices"
    lines = [
        "# Data: twinspec's split (the PyTorch listing trains on the same bytes), float32 (N, C, H, W)",
        f"spec = load_spec({literal(spec_path(spec))})",
        "split = split_dataset(load_dataset(spec.data.dataset), spec.data)",
    ]
    splits = ("train", "val", "test") if spec.data.has_test_split else ("train", "val")
    if spec.data.normalize == "auto":
        lines += [
            "# normalize: auto - each channel's mean and std over the training images (ddof=1: torch's std)",
            "mean = split.x_train.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)",
            "std = split.x_train.std(axis=(0, 2, 3), ddof=1, dtype=np.float64).astype(np.float32)",
        ]
    elif spec.data.mean is not None:
        lines += [
            render("mean = ", Call("np.array(", call_args(list(spec.data.mean), dtype="float32"))),
            render("std = ", Call("np.array(", call_args(list(spec.data.std), dtype="float32"))),
        ]
    for name in splits:
        comment = "  # channels-last: (N, H, W, C)" if name == "train" else ""
        if _normalizes(spec):
            lines.append(f"x_{name} = (split.x_{name}.transpose(0, 2, 3, 1) - mean) / std{comment}")
        else:
            lines.append(f"x_{name} = split.x_{name}.transpose(0, 2, 3, 1){comment}")
    lines += [f"y_train = {targets.format('train')}  # {comment_y}", f"y_val = {targets.format('val')}"]
    if spec.data.has_test_split:
        lines.append(f"y_test = {targets.format('test')}  # the test split: used once, after training")
    return ["\n".join(lines)]


def _pipeline(spec: Spec) -> list[str]:
    """A ``PyDataset`` that redraws every epoch, where ``fit``'s own shuffling will not do."""
    if not _batches(spec):
        return []
    data = spec.data
    drawn = data.sampler != "sequential"
    init, epoch_end = [], []
    if data.sampler == "balanced":
        if binary_loss(spec):
            init.append("        labels = y.ravel().astype(int)")
        labels = "labels" if binary_loss(spec) else "y"
        init += [
            f"        weights = 1 / np.bincount({labels})[{labels}]  # each sample: 1 / (its class count)",
            "        self.p = weights / weights.sum()",
        ]
        epoch_end.append("        self.indices = self.rng.choice(len(self.x), size=len(self.x), p=self.p)")
    elif data.sampler == "shuffle":
        epoch_end.append("        self.indices = self.rng.permutation(len(self.x))")
    if drawn:
        getitem = ["        x, y = self.x[self.indices[batch]], self.y[self.indices[batch]]"]
    else:
        getitem = ["        x, y = self.x[batch], self.y[batch]  # in order"]
    if data.hflip:
        getitem.append("        x = np.where(self.flips[batch, None, None, None], x[:, :, ::-1], x)  # mirrors W")
        epoch_end.append(f"        self.flips = self.rng.random(len(self.x)) < {literal(data.hflip)}")
    getitem, epoch_end = "\n".join(getitem), "\n".join(epoch_end)
    what = SAMPLING[data.sampler] + (f"; flipped with p = {literal(data.hflip)}" if data.hflip else "")
    definition = TRAINING_BATCHES.format(
        what=what, init="".join("\n" + line for line in init), getitem=getitem, epoch_end=epoch_end
    )
    arguments = call_args(*code("x_train", "y_train"), batch_size=data.batch_size, seed=spec.train.seed)
    batches = Call("TrainingBatches(", arguments)
    return [definition, render("train_batches = ", batches)]


SAMPLING = {"balanced": "balanced, with replacement", "shuffle": "shuffled", "sequential": "in order"}

TRAINING_BATCHES = '''\
class TrainingBatches(keras.utils.PyDataset):
    """Training batches, redrawn every epoch: {what}."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed){init}
        self.on_epoch_end()  # the first epoch's draw

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
{getitem}
        return x, y

    def on_epoch_end(self):
{epoch_end}'''


def _model(spec: Spec) -> list[str]:
    """``keras.Sequential`` seeded as the PyTorch listing seeds its model, with the spec's names."""
    model = spec.model
    channels, height, width = model.layers[0].in_shape
    stack = [Call("keras.Input(", call_args(shape=(height, width, channels)))]
    for layer in model.layers:
        stack += _layer(layer, model.init)
    sequential = Call("keras.Sequential(", call_args(Call("[", call_args(*stack), "]", explode=True), name=spec.name))
    lines = [
        "# Model: seeded just before it is built, as in the PyTorch listing",
        f"keras.utils.set_random_seed({model.seed})",
        render("model = ", sequential),
    ]
    return [*_init(spec), *_pads(spec), "\n".join(lines)]


def _init(spec: Spec) -> list[str]:
    """``init: torch``: torch's defaults as Keras initializers, as ``keras_impl/build.py`` states them."""
    if spec.model.init != "torch" or not _initialised(spec):
        return []
    return [TORCH_INIT]


TORCH_INIT = '''\
def torch_init(fan_in):
    """PyTorch's default initialisation in Keras terms: kaiming-uniform(a=sqrt(5)) weights and
    uniform biases, both within 1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(fan_in)
    return {
        "kernel_initializer": keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }'''


def _pads(spec: Spec) -> list[str]:
    """The layer Keras lacks (reflect and replicate padding), only where the spec pads so."""
    modes = {layer.params["mode"] for layer in spec.model.layers if layer.kind == "pad2d"}
    return [definition(SEMANTICS, "Pad2D")] if modes - {"zeros"} else []


def _layer(layer: LayerSpec, init: str) -> list[Call]:
    made = LAYERS[layer.kind](layer, init)
    return made if isinstance(made, list) else [made]


def _conv2d(layer: LayerSpec, init: str) -> list[Call]:
    """torch pads by a number of pixels, Keras only valid or same: a ``ZeroPadding2D`` in front."""
    p = layer.params
    stack = []
    if p["padding"] not in (0, "valid", "same"):
        stack.append(Call("layers.ZeroPadding2D(", call_args(p["padding"], name=f"{layer.name}_pad")))
    kwargs = {"kernel_size": p["kernel"]}
    if p["stride"] != 1:
        kwargs["strides"] = p["stride"]
    if p["padding"] == "same":
        kwargs["padding"] = "same"
    if not p["bias"]:
        kwargs["use_bias"] = False
    if layer.activation is not None:
        kwargs["activation"] = layer.activation
    stack.append(Call("layers.Conv2D(", call_args(p["filters"], **kwargs, name=layer.name) + _inits(layer, init)))
    return stack


def _pool2d(pool: str, layer: LayerSpec) -> Call:
    kernel, stride = layer.params["kernel"], layer.params["stride"]
    strides = {"strides": stride} if stride != kernel else {}
    return Call(pool, call_args(pool_size=kernel, **strides, name=layer.name))


def _pad2d(layer: LayerSpec, init: str) -> Call:
    padding, mode = layer.params["padding"], layer.params["mode"]
    if mode == "zeros":
        return Call("layers.ZeroPadding2D(", call_args(padding, name=layer.name))
    return Call("Pad2D(", call_args(padding, mode, "channels_last", name=layer.name))


def _batchnorm(layer: LayerSpec, init: str) -> Call:
    """torch's momentum weighs the new statistic, Keras' the old one: 1 - m; both always said,
    for Keras' defaults (0.99, 1e-3) are not torch's."""
    p = layer.params
    momentum = round(1 - p["momentum"], 12)
    return Call("layers.BatchNormalization(", call_args(momentum=momentum, epsilon=p["eps"], name=layer.name))


def _linear(layer: LayerSpec, init: str) -> Call:
    kwargs = {} if layer.params["bias"] else {"use_bias": False}
    if layer.activation is not None:
        kwargs["activation"] = layer.activation
    return Call("layers.Dense(", call_args(layer.params["units"], **kwargs, name=layer.name) + _inits(layer, init))


LAYERS = {
    "conv2d": _conv2d,
    "maxpool2d": lambda layer, init: _pool2d("layers.MaxPooling2D(", layer),
    "avgpool2d": lambda layer, init: _pool2d("layers.AveragePooling2D(", layer),
    "pad2d": _pad2d,
    "batchnorm": _batchnorm,
    "flatten": lambda layer, init: Call("layers.Flatten(", call_args(name=layer.name)),
    "linear": _linear,
    "dropout": lambda layer, init: Call("layers.Dropout(", call_args(rate=layer.params["p"], name=layer.name)),
    "relu": lambda layer, init: Call("layers.ReLU(", call_args(name=layer.name)),
    "leaky_relu": lambda layer, init: Call(
        "layers.LeakyReLU(", call_args(negative_slope=layer.params["slope"], name=layer.name)
    ),
    "prelu": lambda layer, init: Call(
        "layers.PReLU(",
        call_args(
            alpha_initializer=Call("keras.initializers.Constant(", call_args(layer.params["init"])),
            shared_axes=list(range(1, len(layer.in_shape) + 1)),  # torch's PReLU: one slope for all
            name=layer.name,
        ),
    ),
    "tanh": lambda layer, init: Call("layers.Activation(", call_args("tanh", name=layer.name)),
    "sigmoid": lambda layer, init: Call("layers.Activation(", call_args("sigmoid", name=layer.name)),
    "softmax": lambda layer, init: Call("layers.Softmax(", call_args(name=layer.name)),
    "log_softmax": lambda layer, init: Call("layers.Activation(", call_args("log_softmax", name=layer.name)),
}


def _loss_and_optimizer(spec: Spec) -> list[str]:
    loss, metrics = Code(LOSSES[spec.train.loss]), Code(ACCURACY[spec.train.loss])
    compiled = Call("model.compile(", call_args(optimizer=_optimizer(spec), loss=loss, metrics=metrics), explode=True)
    lines = ["# Loss and optimizer", render("", compiled)]
    return [definition(SEMANTICS, "NLLLoss"), "\n".join(lines)] if spec.train.loss == "nll" else ["\n".join(lines)]


LOSSES = {
    "bce": "keras.losses.BinaryCrossentropy()",
    "bce_logits": "keras.losses.BinaryCrossentropy(from_logits=True)",
    "cross_entropy": "keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
    "cross_entropy_probs": "keras.losses.SparseCategoricalCrossentropy()",
    "nll": "NLLLoss()",
}

def _optimizer(spec: Spec) -> Call:
    """The spec's optimizer: ``learning_rate``, and what differs from Keras' defaults (Keras'
    Adam epsilon is 1e-7, torch's 1e-8)."""
    p = spec.train.optimizer_params
    kwargs = {"learning_rate": p["lr"]}
    if spec.train.optimizer == "sgd":
        if p["momentum"]:
            kwargs["momentum"] = p["momentum"]
        if p["nesterov"]:
            kwargs["nesterov"] = True
        return Call("keras.optimizers.SGD(", call_args(**kwargs))
    beta_1, beta_2 = p["betas"]
    if beta_1 != 0.9:
        kwargs["beta_1"] = beta_1
    if beta_2 != 0.999:
        kwargs["beta_2"] = beta_2
    if p["eps"] != 1e-7:
        kwargs["epsilon"] = p["eps"]
    return Call("keras.optimizers.Adam(", call_args(**kwargs))


def _training(spec: Spec) -> list[str]:
    """Keras' own loop: ``set_random_seed`` first, ``fit`` printing one summary per epoch."""
    seed = spec.train.seed
    lines = ["# Training: Keras' own loop", f"n_epochs = {spec.train.epochs}", ""]
    lines.append(f"keras.utils.set_random_seed({seed})  # the spec's training seed")
    if _batches(spec):
        lines.append("# train_batches draws every epoch itself: fit must not reorder its batches")
        data, kwargs = code("train_batches"), {"epochs": Code("n_epochs"), "shuffle": False}
    else:
        data = code("x_train", "y_train")
        kwargs = {"batch_size": spec.data.batch_size, "epochs": Code("n_epochs")}
        kwargs["shuffle"] = spec.data.sampler == "shuffle"
    kwargs["validation_data"] = Code("(x_val, y_val)")
    lines.append(render("history = ", Call("model.fit(", call_args(*data, **kwargs, verbose=2), explode=True)))
    if not spec.data.has_test_split:
        return ["\n".join(lines)]
    evaluate = Call("model.evaluate(", call_args(*code("x_test", "y_test"), batch_size=spec.data.batch_size, verbose=2))
    return ["\n".join(lines), "\n".join(["# Test: once, after training", render("test_loss, test_acc = ", evaluate)])]


ACCURACY = {  # what model.compile measures as "accuracy"
    "bce": '["accuracy"]',
    "bce_logits": '[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]',  # "accuracy" would take 0.5
    "cross_entropy": '["accuracy"]',
    "cross_entropy_probs": '["accuracy"]',
    "nll": '["accuracy"]',
}


# -- helpers ----------------------------------------------------------------------------


def _batches(spec: Spec) -> bool:
    """Whether training needs ``TrainingBatches``: ``fit`` shuffles or not, but neither
    samples with replacement nor flips."""
    return spec.data.sampler == "balanced" or bool(spec.data.hflip)


def _initialised(spec: Spec) -> bool:
    return any(layer.kind in ("linear", "conv2d") for layer in spec.model.layers)


def _inits(layer: LayerSpec, init: str) -> list[tuple[str, object]]:
    """``**torch_init(fan_in=...)`` for ``init: torch``, with the layer's fan-in written out."""
    if init != "torch":
        return []
    return [("**", Call("torch_init(", call_args(fan_in=fan_in(layer.kind, layer.in_shape, layer.params))))]


def _normalizes(spec: Spec) -> bool:
    """Whether the inputs are normalised: by the spec's mean and std, or by the training split's."""
    return spec.data.mean is not None or spec.data.normalize == "auto"
