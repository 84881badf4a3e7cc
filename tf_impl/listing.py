"""``run.py show --backend tf``: a spec as the TensorFlow-without-Keras source the slides write.

The listing is plain TensorFlow in the style of the course's slides: channels-last numpy
arrays, ``tf.data`` batches, a ``tf.Module`` subclass that owns its ``tf.Variable``s and
computes with ``tf.nn`` ops, a loss and an optimizer written in ``tf`` and ``assign`` ops,
and a hand-written loop over a ``tf.GradientTape`` step compiled with ``tf.function``.
Only its data section calls twinspec (the framework-free generator and split), so that
every listing of a spec trains on the same bytes. The model's ops are written out from the
spec as ``tf_impl/build.py`` computes them; the helpers (padding, batch norm, the loss,
the optimizer) are copied from ``tf_impl``'s own modules, so the listing shows the code
that runs. It draws the same initial weights as ``tf_impl.build.build_model`` in ``nhwc``;
its training draws are its own.

Sections, in the listing's order (the same in ``torch_impl/listing.py``): header, imports,
data, input pipeline, model, loss and optimizer, training. Nothing here imports
TensorFlow: a listing is text, and its line ``n_epochs = N`` is the one place that sets
the epoch count.
"""

from __future__ import annotations

import re
from pathlib import Path

from common.calls import call, names
from common.present.source import (
    binary_loss,
    definitions,
    join_sections,
    literal,
    render,
    render_statement,
    spec_path,
)
from common.present.source import header as listing_header
from spec.schema import Spec
from tf_impl.calls import LOSSES, Options, model_layers, optimizer_call

FRAMEWORK = "TensorFlow without Keras, in the style of the course's slides"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what TensorFlow lacks, printed from its source


def listing(spec: Spec) -> str:
    """The whole listing: one script that trains ``spec`` when run from the repository root."""
    return join_sections(spec, header, imports, data, pipeline, model, loss_and_optimizer, training)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    lines = ["import math", ""] if _initialised(spec) else []
    lines += ["import numpy as np", "import tensorflow as tf"]
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
        "# Data: twinspec's split (the other listings train on the same bytes), float32 (N, C, H, W)",
        f"spec = load_spec({literal(spec_path(spec))})",
        "split = split_dataset(load_dataset(spec.data.dataset), spec.data)",
    ]
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
    for name in _splits(spec):
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
    """``tf.data`` batches; a function that draws each epoch where ``shuffle`` will not do
    (sampling with replacement, random flips)."""
    data = spec.data
    batch = data.batch_size
    val = "\n".join(
        f"{name}_data = tf.data.Dataset.from_tensor_slices((x_{name}, y_{name})).batch({batch})"
        for name in _splits(spec)[1:]
    )
    if not _batches(spec):
        lines = ["# Input pipeline: tf.data", "train_data = tf.data.Dataset.from_tensor_slices((x_train, y_train))"]
        if data.sampler == "shuffle":
            lines.append(f"train_data = train_data.shuffle(len(x_train), seed={spec.train.seed})  # anew every epoch")
        return ["\n".join([*lines, f"train_data = train_data.batch({batch})", val])]
    body = []
    if data.sampler == "balanced":
        labels = "y_train"
        if binary_loss(spec):
            labels = "labels"
            body.append("    labels = y_train.ravel().astype(int)")
        body += [
            f"    weights = 1 / np.bincount({labels})[{labels}]  # each sample: 1 / (its class count)",
            "    order = rng.choice(len(x_train), size=len(x_train), p=weights / weights.sum())",
        ]
    elif data.sampler == "shuffle":
        body.append("    order = rng.permutation(len(x_train))")
    else:
        body.append("    order = np.arange(len(x_train))  # in order")
    body.append("    x, y = x_train[order], y_train[order]")
    if data.hflip:
        body += [
            f"    flips = rng.random(len(x)) < {literal(data.hflip)}",
            "    x = np.where(flips[:, None, None, None], x[:, :, ::-1], x)  # mirrors W",
        ]
    body.append(f"    return tf.data.Dataset.from_tensor_slices((x, y)).batch({batch})")
    what = SAMPLING[data.sampler] + (f"; flipped with p = {literal(data.hflip)}" if data.hflip else "")
    function = "\n".join(["def training_batches(rng):", f'    """One epoch of batches, drawn anew: {what}."""', *body])
    return [function, "# Input pipeline: tf.data\n" + val]


SAMPLING = {"balanced": "balanced, with replacement", "shuffle": "shuffled", "sequential": "in order"}


def model(spec: Spec) -> list[str]:
    """A ``tf.Module`` that owns the spec's variables, seeded as ``build_model`` seeds its model:
    each layer's statements of ``calls.py``, variables in ``__init__``, ops in ``__call__``."""
    layers = model_layers(spec.model, "NHWC", Options(spec.model.init, "NHWC"))
    init = [
        "    def __init__(self):",
        f"        super().__init__(name={literal(spec.name)})",
        f"        rng = tf.random.Generator.from_seed({spec.model.seed})  # draws every initial weight, in order",
    ]
    if spec.model.dropout_layers:
        init.append("        self.rng = rng  # and then dropout's masks")
    init += [render_statement(statement, 8) for layer in layers for statement in layer.variables]
    forward = ["    def __call__(self, x, training=False):"]
    forward += [render_statement(statement, 8) for layer in layers for statement in layer.ops]
    forward.append("        return x")
    name = _class_name(spec.name)
    lines = [f"class {name}(tf.Module):", f'    """{spec.name}, in tf.nn ops over its own tf.Variables."""', ""]
    used = names([statement for layer in layers for statement in (*layer.variables, *layer.ops)])
    return [*definitions(SEMANTICS, used), "\n".join([*lines, *init, "", *forward]), f"model = {name}()"]


def loss_and_optimizer(spec: Spec) -> list[str]:
    """The loss and the optimizer as ``semantics.py`` writes them, in ``tf`` ops."""
    loss_fn, optimizer = LOSSES[spec.train.loss], optimizer_call(spec.train)
    lines = ["# Loss and optimizer", f"loss_fn = {loss_fn}", render("optimizer = ", optimizer)]
    return [*definitions(SEMANTICS, names([loss_fn, optimizer])), "\n".join(lines)]


def training(spec: Spec) -> list[str]:
    """A hand-written loop over compiled steps: the tape, the gradients, the update."""
    seed = spec.train.seed
    seeding = []
    if _batches(spec):
        seeding.append(f"rng = np.random.default_rng({seed})  # the spec's training seed: sampling and flips")
    if spec.model.dropout_layers:
        seeding.append(f"model.rng.reset_from_seed({seed})  # dropout's masks from the training seed")
    batches = "training_batches(rng)" if _batches(spec) else "train_data"
    loop = TRAINING.format(epochs=spec.train.epochs, seeding="".join(line + "\n" for line in seeding), batches=batches)
    blocks = [TRAIN_STEP, VAL_STEP, loop.replace("{predicted}", ACCURACY[spec.train.loss])]
    if spec.data.has_test_split:
        blocks.append(TEST.replace("{predicted}", ACCURACY[spec.train.loss]))
    return blocks


TRAIN_STEP = """\
@tf.function  # traced into a graph at the first call, and again for a new batch shape
def train_step(x, y):
    with tf.GradientTape() as tape:  # records the forward pass...
        loss = loss_fn(y, model(x, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)  # ...and differentiates it
    optimizer.apply_gradients(gradients)
    return loss"""

VAL_STEP = """\
@tf.function
def val_step(x, y):
    yhat = model(x, training=False)
    return loss_fn(y, yhat), yhat"""

TRAINING = """\
# Training: a hand-written loop over the compiled steps
n_epochs = {epochs}
losses, val_losses = [], []

{seeding}for epoch in range(1, n_epochs + 1):
    losses.append(np.mean([float(train_step(x, y)) for x, y in {batches}]))

    batch_losses, n_correct = [], 0
    for x, y in val_data:
        loss, yhat = val_step(x, y)
        batch_losses.append(float(loss))
        n_correct += int(tf.reduce_sum(tf.cast({{predicted}} == y, tf.int32)))
    val_losses.append(np.mean(batch_losses))
    accuracy = n_correct / len(y_val)
    print(f"epoch {{epoch}}: loss {{losses[-1]:.4f}}, val_loss {{val_losses[-1]:.4f}}, {{accuracy:.1%}}")"""

TEST = """\
# Test: once, after training
batch_losses, n_correct = [], 0
for x, y in test_data:
    loss, yhat = val_step(x, y)
    batch_losses.append(float(loss))
    n_correct += int(tf.reduce_sum(tf.cast({predicted} == y, tf.int32)))
test_loss, test_acc = np.mean(batch_losses), n_correct / len(y_test)
print(f"test: loss {test_loss:.4f}, {test_acc:.1%}")"""

ACCURACY = {  # the predicted classes, from yhat, to compare with y
    "bce": "tf.cast(yhat > 0.5, tf.float32)",
    "bce_logits": "tf.cast(yhat > 0, tf.float32)",
    "cross_entropy": "tf.argmax(yhat, axis=1)",
    "cross_entropy_probs": "tf.argmax(yhat, axis=1)",
    "nll": "tf.argmax(yhat, axis=1)",
}


# -- helpers ----------------------------------------------------------------------------


ACRONYMS = {"cnn", "fc", "mnist", "nll", "bce"}


def _class_name(name: str) -> str:
    """The model's class: ``simple_cnn`` is ``SimpleCNN``."""
    parts = re.findall(r"[A-Za-z]+|[0-9]+", name)
    joined = "".join(part.upper() if part.lower() in ACRONYMS else part.capitalize() for part in parts)
    return joined if joined[:1].isalpha() else f"Model{joined}"


def _batches(spec: Spec) -> bool:
    """Whether training needs ``training_batches``: ``shuffle`` neither samples with
    replacement nor flips."""
    return spec.data.sampler == "balanced" or bool(spec.data.hflip)


def _initialised(spec: Spec) -> bool:
    return any(layer.kind in ("linear", "conv2d") for layer in spec.model.layers)


def _splits(spec: Spec) -> tuple[str, ...]:
    return ("train", "val", "test") if spec.data.has_test_split else ("train", "val")


def _normalizes(spec: Spec) -> bool:
    """Whether the inputs are normalised: by the spec's mean and std, or by the training split's."""
    return spec.data.mean is not None or spec.data.normalize == "auto"
