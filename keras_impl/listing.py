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

from common.calls import Call, call, names
from common.present.source import (
    Code,
    binary_loss,
    definitions,
    join_sections,
    literal,
    render,
    spec_path,
)
from common.present.source import header as listing_header
from keras_impl.calls import LOSSES, METRICS, Options, model_call, optimizer_call
from spec.schema import Spec

FRAMEWORK = "Keras 3, in the style of the course's slides"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what Keras lacks, printed from its source


def listing(spec: Spec) -> str:
    """The whole listing: one script that trains ``spec`` when run from the repository root."""
    return join_sections(spec, header, imports, data, pipeline, model, loss_and_optimizer, training)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
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


def data(spec: Spec) -> list[str]:
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
            render("mean = ", call("np.array", list(spec.data.mean), dtype="float32")),
            render("std = ", call("np.array", list(spec.data.std), dtype="float32")),
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


def pipeline(spec: Spec) -> list[str]:
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
    batches = call(
        "TrainingBatches", Code("x_train"), Code("y_train"), batch_size=data.batch_size, seed=spec.train.seed
    )
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


def model(spec: Spec) -> list[str]:
    """``keras.Sequential`` seeded as the PyTorch listing seeds its model, with the spec's names."""
    made = model_call(spec.model, Options(spec.model.init, "channels_last", "channels_last"))
    lines = [
        "# Model: seeded just before it is built, as in the PyTorch listing",
        f"keras.utils.set_random_seed({spec.model.seed})",
        render("model = ", made),
    ]
    return [*definitions(SEMANTICS, names(made)), "\n".join(lines)]


def loss_and_optimizer(spec: Spec) -> list[str]:
    loss_fn = LOSSES[spec.train.loss]
    arguments = {"optimizer": optimizer_call(spec.train), "loss": loss_fn, "metrics": [METRICS[spec.train.loss]]}
    compiled = call("model.compile", **arguments)
    lines = ["# Loss and optimizer", render("", Call(compiled.path, (), compiled.kwargs, explode=True))]
    return [*definitions(SEMANTICS, names(loss_fn)), "\n".join(lines)]


def training(spec: Spec) -> list[str]:
    """Keras' own loop: ``set_random_seed`` first, ``fit`` printing one summary per epoch."""
    seed = spec.train.seed
    lines = ["# Training: Keras' own loop", f"n_epochs = {spec.train.epochs}", ""]
    lines.append(f"keras.utils.set_random_seed({seed})  # the spec's training seed")
    if _batches(spec):
        lines.append("# train_batches draws every epoch itself: fit must not reorder its batches")
        data, kwargs = [Code("train_batches")], {"epochs": Code("n_epochs"), "shuffle": False}
    else:
        data = [Code("x_train"), Code("y_train")]
        kwargs = {"batch_size": spec.data.batch_size, "epochs": Code("n_epochs")}
        kwargs["shuffle"] = spec.data.sampler == "shuffle"
    kwargs["validation_data"] = Code("(x_val, y_val)")
    fit = call("model.fit", *data, **kwargs, verbose=2)
    lines.append(render("history = ", Call(fit.path, fit.args, fit.kwargs, explode=True)))
    if not spec.data.has_test_split:
        return ["\n".join(lines)]
    evaluate = call("model.evaluate", Code("x_test"), Code("y_test"), batch_size=spec.data.batch_size, verbose=2)
    return ["\n".join(lines), "\n".join(["# Test: once, after training", render("test_loss, test_acc = ", evaluate)])]


# -- helpers ----------------------------------------------------------------------------


def _batches(spec: Spec) -> bool:
    """Whether training needs ``TrainingBatches``: ``fit`` shuffles or not, but neither
    samples with replacement nor flips."""
    return spec.data.sampler == "balanced" or bool(spec.data.hflip)


def _initialised(spec: Spec) -> bool:
    return any(layer.kind in ("linear", "conv2d") for layer in spec.model.layers)


def _normalizes(spec: Spec) -> bool:
    """Whether the inputs are normalised: by the spec's mean and std, or by the training split's."""
    return spec.data.mean is not None or spec.data.normalize == "auto"
