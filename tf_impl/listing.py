"""``run.py show --backend tf``: a spec as the TensorFlow-without-Keras program the slides write.

The listing is a whole program a student takes home: it imports TensorFlow (and numpy and
matplotlib), never twinspec, and runs from any folder. It makes its data as every listing
does (``common/present/listing_data.py``: the generator printed, or the user's copy of the
spec's real dataset; the book's split, in numpy), scales and normalises it channels-last,
and batches it with ``training_batches``, printed from ``tf_impl/semantics.py``: the
column's own pipeline, drawn from a seeded ``tf.random.Generator``. Then the slides' TensorFlow: a
``tf.Module`` subclass that owns its ``tf.Variable``s and computes with ``tf.nn`` ops, a
loss and an optimizer in ``tf`` ops (copied from ``tf_impl/semantics.py``), and a
hand-written loop over a ``tf.GradientTape`` step compiled with ``tf.function``; then it
saves the weights, plots the losses and classifies an image. It runs the tf column's run in
``nhwc``: the same initial weights, draws and losses (``tests/test_listings.py``).

Sections, in the listing's order (the same in every column's listing): header, imports,
data, input pipeline, model, loss and optimizer, training, results. The Keras listing
re-exports the data and pipeline sections: Keras on TensorFlow is fed by ``tf.data``.
Nothing here imports TensorFlow: a listing is text, and its line ``n_epochs = N`` is the
one place that sets the epoch count.
"""

from __future__ import annotations

from pathlib import Path

from common.calls import names
from common.present import listing_data
from common.present.source import class_name, definitions, join_sections, literal, render, render_statement, styled
from common.present.source import header as listing_header
from spec.schema import Spec
from tf_impl.calls import CLIPS, LOSSES, Options, model_layers, optimizer_call

FRAMEWORK = "TensorFlow without Keras, in the style of the course's slides"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what TensorFlow lacks, printed from its source


def listing(spec: Spec, style: str | None = None) -> str:
    """The whole listing: one program that trains ``spec``, run from any folder; ``style``,
    how it writes the model (``source.STYLES``; None: as its column builds it)."""
    model_section = styled("tf", style, {"module": model})
    return join_sections(spec, header, imports, data, pipeline, model_section, loss_and_optimizer, training, results)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    standard = ["import math"] if _initialised(spec) or spec.train.scheduler else []
    standard += ["from pathlib import Path"] if listing_data.reads_folder(spec) else []
    lines = [*listing_data.standard_imports(spec, *standard), "import matplotlib.pyplot as plt", "import numpy as np"]
    return "\n".join([*lines, "import tensorflow as tf"])


def data(spec: Spec) -> list[str]:
    """The images and the split, as numpy arrays: the generator, printed; the book's split, replayed."""
    return listing_data.data(spec, _folder_loader(spec), split_with_torch=False)


def _folder_loader(spec: Spec) -> str:
    """A folder of images as TensorFlow decodes and resizes one (``data.source:
    image_folder``): bilinear, so not PIL's pixels where the size changes."""
    if not listing_data.reads_folder(spec):
        return ""
    params = spec.data.source.params
    return FOLDER.format(size=list(params["size"]), channels=params["channels"])


FOLDER = '''\
def load_image_folder(path):
    """A folder of images, one sub-folder per class, in Keras' order (classes, then files,
    sorted), each decoded and resized by TensorFlow, as uint8 (C, H, W)."""
    folders = sorted(sub for sub in Path(path).iterdir() if sub.is_dir() and sub.name[0] != ".")
    images, labels = [], []
    for label, folder in enumerate(folders):
        for file in sorted(folder.rglob("*")):
            if file.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif"):
                image = tf.io.decode_image(tf.io.read_file(str(file)), channels={channels})
                images.append(tf.image.resize(image, {size}).numpy().round().astype(np.uint8))
                labels.append(label)
    return np.stack(images).transpose(0, 3, 1, 2), np.array(labels), [f.name for f in folders]'''


def pipeline(spec: Spec) -> list[str]:
    """Scaled, normalised, channels-last float32 arrays; the training batches drawn by the
    column's own ``training_batches``, the others in order."""
    data = spec.data
    batches = listing_data.training_batches(spec)
    loaders = [
        f"# Batches: for training drawn anew every epoch ({SAMPLING[data.sampler]}), the rest in order",
        render("train_batches, generator = ", batches),
        *(
            f"{name}_batches = tf.data.Dataset.from_tensor_slices((x_{name}, y_{name})).batch({data.batch_size})"
            for name in listing_data.splits(spec)[1:]
        ),
    ]
    arrays = listing_data.channels_last(spec, '{}_labels.reshape(-1, 1).astype("float32")', "{}_labels")
    return [*arrays, *definitions(SEMANTICS, ["training_batches"]), "\n".join(loaders)]


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
    name = class_name(spec.name)
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
    seeding = [f"tf.random.set_seed({seed})  # the spec's training seed (the batches' generator has it)"]
    if spec.model.dropout_layers:
        seeding.append(f"model.rng.reset_from_seed({seed})  # and dropout's masks")
    scheduler = spec.train.scheduler
    stepping = STEPPED if scheduler and scheduler.per_step else UNSTEPPED
    epoch_step = ""
    if scheduler and not scheduler.per_step:
        epoch_step = f"    step_scheduler({'val_losses[-1]' if scheduler.watches_loss else ''})\n"
    seeded = "".join(line + "\n" for line in seeding)
    scheduler_blocks, making = _scheduler(spec)
    made = "".join(line + "\n" for line in making)
    loop = TRAINING.format(
        epochs=spec.train.epochs, scheduler=made, seeding=seeded, train_loop=stepping, epoch_step=epoch_step
    )
    clipping = ""
    if spec.train.clip is not None:  # torch's clip_grad_value_ / clip_grad_norm_, before the update
        clipping = "    " + CLIPS[spec.train.clip.by].format(t=literal(spec.train.clip.threshold)) + "\n"
    train_step = TRAIN_STEP.format(clipping=clipping)
    blocks = [*scheduler_blocks, train_step, VAL_STEP, loop.replace("{predicted}", ACCURACY[spec.train.loss])]
    if spec.data.has_test_split:
        blocks.append(TEST.replace("{predicted}", ACCURACY[spec.train.loss]))
    return blocks


def _scheduler(spec: Spec) -> tuple[list[str], list[str]]:
    """torch's scheduler in plain Python, and the function that steps it and gives the
    optimizer its rate (and momentum), which the compiled step reads from variables; then
    the lines that make it."""
    if spec.train.scheduler is None:
        return [], []
    given = ["optimizer.learning_rate.assign(scheduler.lr)"]
    if spec.train.scheduler.params.get("cycle_momentum"):
        given.append("optimizer.momentum.assign(scheduler.momentum)")
    stepping = STEP_SCHEDULER + "".join(f"\n    {line}" for line in given)
    defined, making = listing_data.scheduler(spec, "len(train_batches)", *given)
    return [*defined, stepping], making


STEP_SCHEDULER = """\
def step_scheduler(metric=None):
    \"\"\"A step of the scheduler, and its rate on the optimizer's variables, which the
    compiled step reads.\"\"\"
    scheduler.step(metric)"""

UNSTEPPED = "    losses.append(np.mean([float(train_step(x, y)) for x, y in train_batches]))  # a new draw\n"
STEPPED = """\
    batch_losses = []
    for x, y in train_batches:  # a new draw
        batch_losses.append(float(train_step(x, y)))
        step_scheduler()  # a batch scheduler, after every step
    losses.append(np.mean(batch_losses))
"""

TRAIN_STEP = """\
@tf.function  # traced into a graph at the first call, and again for a new batch shape
def train_step(x, y):
    with tf.GradientTape() as tape:  # records the forward pass...
        loss = loss_fn(y, model(x, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)  # ...and differentiates it
{clipping}    optimizer.apply_gradients(gradients)
    return loss"""

VAL_STEP = """\
@tf.function
def val_step(x, y):
    yhat = model(x, training=False)
    return loss_fn(y, yhat), yhat"""

TRAINING = """\
# Training: a hand-written loop over the compiled steps
n_epochs = {epochs}
{scheduler}losses, val_losses = [], []

{seeding}for epoch in range(1, n_epochs + 1):
{train_loop}
    batch_losses, n_correct = [], 0
    for x, y in val_batches:
        loss, yhat = val_step(x, y)
        batch_losses.append(float(loss))
        n_correct += int(tf.reduce_sum(tf.cast({{predicted}} == y, tf.int32)))
    val_losses.append(np.mean(batch_losses))
{epoch_step}    print(
        f"epoch {{epoch}}/{{n_epochs}}  loss {{losses[-1]:.4f}}  val_loss {{val_losses[-1]:.4f}}  "
        f"val_acc {{n_correct / len(y_val):.2%}}"
    )"""

TEST = """\
# Test: once, after training, as the validation loop
batch_losses, n_correct = [], 0
for x, y in test_batches:
    loss, yhat = val_step(x, y)
    batch_losses.append(float(loss))
    n_correct += int(tf.reduce_sum(tf.cast({predicted} == y, tf.int32)))
test_loss, test_acc = np.mean(batch_losses), n_correct / len(y_test)
print(f"test_loss {test_loss:.4f}  test_acc {test_acc:.2%}")"""


def results(spec: Spec) -> list[str]:
    """The weights saved, the losses plotted, and one validation image classified."""
    predicted = ACCURACY[spec.train.loss].replace("yhat", "model(x_val[:1])")
    saving = [
        "# tf.train.Checkpoint(model=model).read(path) reads the weights back",
        f'tf.train.Checkpoint(model=model).write("{listing_data.saved_as(spec, "tf", ".ckpt")}")',
    ]
    return listing_data.results(spec, "tf", saving, [f"predicted = int(tf.reshape({predicted}, [-1])[0])"])


ACCURACY = {  # the predicted classes, from yhat, to compare with y
    "bce": "tf.cast(yhat > 0.5, tf.float32)",
    "bce_logits": "tf.cast(yhat > 0, tf.float32)",
    "cross_entropy": "tf.argmax(yhat, axis=1)",
    "cross_entropy_probs": "tf.argmax(yhat, axis=1)",
    "nll": "tf.argmax(yhat, axis=1)",
}


# -- helpers ----------------------------------------------------------------------------


def _initialised(spec: Spec) -> bool:
    return any(layer.kind in ("linear", "conv2d") for layer in spec.model.layers)
