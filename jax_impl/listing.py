"""``run.py show --backend jax``: a spec as the JAX program Flax's MNIST tutorial would write.

The listing is a whole program a student takes home: it imports JAX, Flax, Optax, numpy
and matplotlib (and Pillow, for a folder of images), never twinspec, and runs from any
folder. It makes its data as every listing does (``common/present/listing_data.py``: the
generator printed, or the user's copy of the spec's real dataset; the book's split, in
numpy), scales and normalises it channels-last, and batches it with ``training_batches``,
printed from ``common/data/batches.py``: the column's own numpy pipeline. Then the
tutorial's JAX: an ``nnx.Module`` class with its layers made in ``__init__`` and applied in
``__call__``, an Optax optimizer in an ``nnx.Optimizer``, a ``train_step`` that takes
``nnx.value_and_grad`` of the loss and updates, compiled with ``jax.jit``; then it saves
the weights, plots the losses and classifies an image. It runs the jax column's run in
``nhwc``: the same initial weights, draws and losses (``tests/test_listings.py``).

Sections, in the listing's order (the same in every column's listing): header, imports,
data, input pipeline, model, loss and optimizer, training, results. Nothing here imports
JAX: a listing is text, and its line ``n_epochs = N`` is the one place that sets the epoch
count.
"""

from __future__ import annotations

from pathlib import Path

from common.calls import names
from common.present import listing_data
from common.present.source import Code, class_name, definitions, join_sections, render, render_statement, styled
from common.present.source import header as listing_header
from jax_impl.calls import LOSSES, Options, clip_call, model_layers, optimizer_call
from spec.schema import Spec

FRAMEWORK = "JAX with Flax NNX and Optax, in the style of Flax's MNIST tutorial"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what Flax and Optax lack, printed from its source
BATCHES = Path(__file__).resolve().parents[1] / "common" / "data" / "batches.py"  # the column's pipeline


def listing(spec: Spec, style: str | None = None) -> str:
    """The whole listing: one program that trains ``spec``, run from any folder; ``style``,
    how it writes the model (``source.STYLES``; None: as its column builds it)."""
    model_section = styled("jax", style, {"module": model})
    return join_sections(spec, header, imports, data, pipeline, model_section, loss_and_optimizer, training, results)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    standard = ["import math"] if spec.model.init == "torch" or spec.train.scheduler else []
    standard += ["from pathlib import Path"] if listing_data.reads_folder(spec) else []
    lines = [*listing_data.standard_imports(spec, *standard), "import jax", "import jax.numpy as jnp"]
    lines += ["import matplotlib.pyplot as plt", "import numpy as np", "import optax"]
    lines += ["from flax import nnx, serialization"]
    if listing_data.reads_folder(spec):
        lines.append("from PIL import Image")
    return "\n".join(lines)


def data(spec: Spec) -> list[str]:
    """The images and the split, as numpy arrays: the generator, printed; the book's split, replayed."""
    return listing_data.data(spec, _folder_loader(spec), split_with_torch=False)


def _folder_loader(spec: Spec) -> str:
    """A folder of images read with Pillow, as JAX's users read files (``data.source: image_folder``)."""
    if not listing_data.reads_folder(spec):
        return ""
    params = spec.data.source.params
    return FOLDER.format(size=tuple(params["size"]), mode="RGB" if params["channels"] == 3 else "L")


FOLDER = '''\
def load_image_folder(path):
    """A folder of images, one sub-folder per class, in torchvision's order (classes, then
    files, sorted), each read with Pillow and resized (bilinear), as uint8 (C, H, W)."""
    folders = sorted(sub for sub in Path(path).iterdir() if sub.is_dir() and sub.name[0] != ".")
    images, labels = [], []
    for label, folder in enumerate(folders):
        for file in sorted(folder.rglob("*")):
            if file.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif"):
                with Image.open(file) as image:
                    image = image.convert("{mode}")
                    if image.size != {size}[::-1]:
                        image = image.resize({size}[::-1], Image.Resampling.BILINEAR)
                    pixels = np.asarray(image, dtype=np.uint8)
                images.append(pixels.reshape(*pixels.shape[:2], -1).transpose(2, 0, 1))
                labels.append(label)
    return np.stack(images), np.array(labels), [folder.name for folder in folders]'''


def pipeline(spec: Spec) -> list[str]:
    """Scaled, normalised, channels-last float32 arrays; each epoch's training batches drawn
    by the column's own ``training_batches``, the others in order."""
    data = spec.data
    batch = data.batch_size
    arrays = listing_data.channels_last(spec, '{}_labels.reshape(-1, 1).astype("float32")', '{}_labels.astype("int32")')
    loaders = [
        f"# Batches: in order (the training ones are drawn anew each epoch: {SAMPLING[data.sampler]})",
        *(
            f"{name}_batches = [(x_{name}[i : i + {batch}], y_{name}[i : i + {batch}]) for i in range(0, len(y_{name}), {batch})]"
            for name in listing_data.splits(spec)[1:]
        ),
    ]
    return [*arrays, *definitions(BATCHES, ["training_batches"]), "\n".join(loaders)]


SAMPLING = {"balanced": "balanced, with replacement", "shuffle": "shuffled", "sequential": "in order"}


def model(spec: Spec) -> list[str]:
    """An ``nnx.Module`` seeded as ``build_model`` seeds its model: each layer's statements of
    ``calls.py``, modules in ``__init__``, ops in ``__call__``."""
    layers = model_layers(spec.model, "nhwc", Options(spec.model.init))
    init = ["    def __init__(self, rngs: nnx.Rngs):"]
    init += [render_statement(statement, 8) for layer in layers for statement in layer.modules]
    forward = ["    def __call__(self, x):"]
    forward += [render_statement(statement, 8) for layer in layers for statement in layer.ops]
    forward.append("        return x")
    name = class_name(spec.name)
    lines = [f"class {name}(nnx.Module):", f'    """{spec.name}, in Flax NNX modules."""', ""]
    used = names([statement for layer in layers for statement in (*layer.modules, *layer.ops)])
    made = f"model = {name}(nnx.Rngs({spec.model.seed}))  # the seed draws every initial weight, then dropout's masks"
    return [*definitions(SEMANTICS, used), "\n".join([*lines, *init, "", *forward]), made]


def loss_and_optimizer(spec: Spec) -> list[str]:
    """The loss as ``semantics.py`` writes it, and the Optax optimizer over the model's parameters."""
    loss_fn, optimizer = LOSSES[spec.train.loss], optimizer_call(spec.train, spec.model.frozen)
    lines = ["# Loss and optimizer", f"loss_fn = {loss_fn}", render("optimizer = ", optimizer)]
    if spec.train.clip is not None:
        lines += [render("clipping = ", clip_call(spec.train.clip), "  # train_step clips the gradients with it")]
    return [*definitions(SEMANTICS, names([loss_fn])), "\n".join(lines)]


def training(spec: Spec) -> list[str]:
    """The tutorial's steps, compiled with ``jax.jit`` over the split model and optimizer."""
    data = spec.data
    batches = listing_data.training_batches(spec, epoch=Code("epoch - 1"))
    predicted = ACCURACY[spec.train.loss]
    scheduler = spec.train.scheduler
    stepped = (scheduler.per_step, not scheduler.per_step) if scheduler else (False, False)
    watched = "val_losses[-1]" if scheduler and scheduler.watches_loss else ""
    defined, making = _scheduler(spec)
    loop = TRAINING.format(
        epochs=spec.train.epochs,
        scheduler="".join(line + "\n" for line in making),
        batches=render("", batches, indent=4).strip(),
        predicted=predicted,
        rates=", rates()" if scheduler else "",
        batch_step="        scheduler.step()  # a batch scheduler, after every step\n" if stepped[0] else "",
        epoch_step=f"    scheduler.step({watched})  # an epoch scheduler, after every epoch\n" if stepped[1] else "",
    )
    split = "graphdef, state = nnx.split((model, optimizer))  # the jitted steps carry the state"
    if spec.model.dropout_layers:
        split = f"nnx.reseed(model, default={spec.train.seed})  # dropout's masks: the spec's training seed\n{split}"
    clipping = ""
    if spec.train.clip is not None:  # torch's clip_grad_value_ / clip_grad_norm_, before the update
        clipping = "    grads, _ = clipping.update(grads, clipping.init(grads))  # stateless: an empty state\n"
    given = ""
    if scheduler:
        chained = spec.train.optimizer != "adamw" and spec.train.optimizer_params["weight_decay"]
        hyperparams = "optimizer.opt_state[-1].hyperparams" if chained else "optimizer.opt_state.hyperparams"
        given = GIVEN.format(hyperparams=hyperparams)
    train_step = TRAIN_STEP.format(clipping=clipping, rates=", rates" if scheduler else "", given=given)
    blocks = [split, *defined, train_step, EVAL_STEP, loop]
    return [*blocks, TESTING.format(predicted=predicted)] if data.has_test_split else blocks


def _scheduler(spec: Spec) -> tuple[list[str], list[str]]:
    """torch's scheduler in plain Python, and what it gives each step: Optax's injected
    hyperparameters, set in the compiled step from arrays (so it is traced once); then the
    lines that make it."""
    if spec.train.scheduler is None:
        return [], []
    given = '"learning_rate": scheduler.lr'
    if spec.train.scheduler.params.get("cycle_momentum"):
        given += ', "momentum": scheduler.momentum'
    defined, making = listing_data.scheduler(spec, f"math.ceil(len(y_train) / {spec.data.batch_size})")
    return [*defined, RATES.format(given=given)], making


RATES = """\
def rates():
    \"\"\"The scheduler's rate (and momentum) for the next step, in float32 as Optax holds them.\"\"\"
    given = {{{given}}}
    return {{name: jnp.float32(value) for name, value in given.items()}}"""

GIVEN = """\
    for name, value in rates.items():  # the scheduler's, for this step
        {hyperparams}[name][...] = value
"""

TRAIN_STEP = """\
@jax.jit
def train_step(state, x, y{rates}):
    model, optimizer = nnx.merge(graphdef, state)
{given}    loss, grads = nnx.value_and_grad(lambda model: loss_fn(model(x), y))(model)
{clipping}    optimizer.update(model, grads)
    return loss, nnx.state((model, optimizer))"""

EVAL_STEP = """\
@jax.jit
def eval_step(state, x, y):
    model, _ = nnx.merge(graphdef, state)
    model.eval()  # dropout off, batchnorm's running statistics
    yhat = model(x)
    return loss_fn(yhat, y), yhat"""

TRAINING = """\
# Training: a loop over the compiled steps
n_epochs = {epochs}
{scheduler}losses, val_losses = [], []

for epoch in range(1, n_epochs + 1):
    batches = {batches}
    batch_losses = []
    for x, y in batches:
        loss, state = train_step(state, x, y{rates})
        batch_losses.append(loss)  # a jax.Array: the next step need not wait for it
{batch_step}    losses.append(np.mean([float(loss) for loss in batch_losses]))

    batch_losses, n_correct = [], 0
    for x, y in val_batches:
        loss, yhat = eval_step(state, x, y)
        batch_losses.append(float(loss))
        n_correct += int(({predicted} == y).sum())
    val_losses.append(np.mean(batch_losses))
{epoch_step}    print(
        f"epoch {{epoch}}/{{n_epochs}}  loss {{losses[-1]:.4f}}  val_loss {{val_losses[-1]:.4f}}  "
        f"val_acc {{n_correct / len(y_val):.2%}}"
    )
nnx.update((model, optimizer), state)"""

TESTING = """\
# Test: once, after training, as the validation loop
batch_losses, n_correct = [], 0
for x, y in test_batches:
    loss, yhat = eval_step(state, x, y)
    batch_losses.append(float(loss))
    n_correct += int(({predicted} == y).sum())
test_loss, test_acc = np.mean(batch_losses), n_correct / len(y_test)
print(f"test_loss {{test_loss:.4f}}  test_acc {{test_acc:.2%}}")"""


def results(spec: Spec) -> list[str]:
    """The weights saved, the losses plotted, and one validation image classified."""
    predicted = ACCURACY[spec.train.loss].replace("yhat", "model(x_val[:1])")
    path = listing_data.saved_as(spec, "jax", ".msgpack")
    saving = [
        "# serialization.msgpack_restore reads them back; nnx.replace_by_pure_dict puts them in a model",
        "weights = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat)).to_pure_dict()  # not dropout's key",
        f'with open("{path}", "wb") as file:',
        "    file.write(serialization.msgpack_serialize(weights))",
    ]
    return listing_data.results(spec, "jax", saving, ["model.eval()", f"predicted = int(np.ravel({predicted})[0])"])


ACCURACY = {  # the predicted classes, from yhat, to compare with y
    "bce": "(yhat > 0.5)",
    "bce_logits": "(yhat > 0)",
    "cross_entropy": "yhat.argmax(axis=1)",
    "cross_entropy_probs": "yhat.argmax(axis=1)",
    "nll": "yhat.argmax(axis=1)",
}
