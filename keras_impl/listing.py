"""``run.py show --backend keras``: a spec as the Keras 3 program the slides would write for it.

The listing is a whole program a student takes home: it imports Keras (with TensorFlow,
its backend, for ``tf.data``; numpy and matplotlib), never twinspec, and runs from any
folder. Its data and input pipeline are the TensorFlow listing's (``tf_impl/listing.py``),
re-exported, as the Keras column's data module re-exports the tf column's: Keras on
TensorFlow is fed by ``tf.data``. A folder of images is read by Keras' own utility. Then
the slides' Keras: ``keras.Sequential`` with a list of named layers (the calls of
``calls.py``, the very ones ``build`` makes), ``compile`` and ``fit``; then it saves the
model, plots the losses and classifies an image. It runs the Keras column's run in
``nhwc``: the same initial weights, draws and losses (``tests/test_listings.py``).

The same listing on Keras' other backends (``keras-jax``, ``keras-torch``: their listing
modules bind what ``_backends.listing_sections`` makes of the private sections below that
take a backend) sets ``KERAS_BACKEND`` before it
imports Keras and loads no TensorFlow: its data are read as the JAX listing reads them
(Pillow, for a folder), and ``fit`` is fed numpy, as the column feeds it: the training
batches of ``common/data/batches.py``'s ``training_batches`` (the JAX listing's), from a
generator that draws each epoch as it starts, and the splits as arrays.

Sections, in the listing's order (the same in every column's listing): header, imports,
data, input pipeline, model, loss and optimizer, training, results. Nothing here imports
Keras: a listing is text, and its line ``n_epochs = N`` is the one place that sets the
epoch count.
"""

from __future__ import annotations

from pathlib import Path

from common.calls import Call, call, names
from common.present import listing_data
from common.present.source import Code, definitions, join_sections, render, styled
from common.present.source import header as listing_header
from keras_impl.calls import LOSSES, METRICS, Options, model_call, optimizer_call
from spec.schema import Spec
from tf_impl.listing import pipeline  # noqa: F401  (the TensorFlow listing's section, re-exported)

FRAMEWORK = "Keras 3, in the style of the course's slides"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what Keras lacks, printed from its source
BATCHES = Path(__file__).resolve().parents[1] / "common" / "data" / "batches.py"  # numpy's training batches
BACKENDS = {"jax": "JAX", "torch": "PyTorch"}  # Keras' other backends, for people

__all__ = ["listing", "header", "imports", "data", "pipeline", "model", "loss_and_optimizer", "training", "results"]


def listing(spec: Spec, style: str | None = None) -> str:
    """The whole listing: one program that trains ``spec``, run from any folder; ``style``,
    how it writes the model (``source.STYLES``; None: as its column builds it)."""
    model_section = styled("keras", style, {"sequential": model})
    return join_sections(spec, header, imports, data, pipeline, model_section, loss_and_optimizer, training, results)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    return _backend_imports(spec, "tensorflow")


def data(spec: Spec) -> list[str]:
    """The images and the split, as numpy arrays: the generator, printed; the book's split, replayed."""
    return _backend_data(spec, "tensorflow")


def _framework(backend: str) -> str:
    """What the listing is, for people: on Keras' other backends, which one."""
    if backend == "tensorflow":
        return FRAMEWORK
    return f"Keras 3 on {BACKENDS[backend]}, in the style of the course's slides"


def _backend_imports(spec: Spec, backend: str) -> str:
    """The imports; on another backend than TensorFlow, ``KERAS_BACKEND`` set before Keras is
    imported (Keras reads it once, then), no TensorFlow, and Pillow for a folder of images."""
    uses_math = spec.model.init == "torch" and _initialised(spec) or backend != "tensorflow" or spec.train.scheduler
    standard = ["import math"] if uses_math else []
    if backend == "tensorflow":
        lines = [*listing_data.standard_imports(spec, *standard), "import keras", "import matplotlib.pyplot as plt"]
        return "\n".join([*lines, "import numpy as np", "import tensorflow as tf", "from keras import layers, ops"])
    standard += ["import os", *(["from pathlib import Path"] if listing_data.reads_folder(spec) else [])]
    lines = [*listing_data.standard_imports(spec, *standard)]
    lines += [f'os.environ["KERAS_BACKEND"] = "{backend}"  # before Keras is imported: it reads its backend once', ""]
    lines += ["import keras", "import matplotlib.pyplot as plt", "import numpy as np", "from keras import layers, ops"]
    return "\n".join([*lines, *(["from PIL import Image"] if listing_data.reads_folder(spec) else [])])


def _backend_data(spec: Spec, backend: str) -> list[str]:
    """The data section; a folder of images read by Keras' utility on TensorFlow (a
    ``tf.data`` utility), with Pillow on the other backends, as the JAX listing reads it."""
    return listing_data.data(spec, _folder_loader(spec, backend), split_with_torch=False)


def _folder_loader(spec: Spec, backend: str) -> str:
    """A folder of images as Keras' utility reads one (``data.source: image_folder``):
    resized by ``tf.image.resize`` (bilinear), so not PIL's pixels where the size changes.
    Without TensorFlow, read with Pillow (the JAX listing's loader)."""
    if not listing_data.reads_folder(spec):
        return ""
    params = spec.data.source.params
    if backend != "tensorflow":
        from jax_impl.listing import FOLDER as PILLOW_FOLDER  # text: loads no JAX

        return PILLOW_FOLDER.format(size=tuple(params["size"]), mode="RGB" if params["channels"] == 3 else "L")
    mode = "rgb" if params["channels"] == 3 else "grayscale"
    return FOLDER.format(size=tuple(params["size"]), mode=mode)


FOLDER = '''\
def load_image_folder(path):
    """A folder of images, one sub-folder per class, as Keras reads it: uint8 (C, H, W)."""
    folder = keras.utils.image_dataset_from_directory(
        path, image_size={size}, color_mode="{mode}", batch_size=None, shuffle=False
    )
    images = np.stack([image for image, _ in folder.as_numpy_iterator()])
    labels = np.array([label for _, label in folder.as_numpy_iterator()])
    return images.round().astype(np.uint8).transpose(0, 3, 1, 2), labels, folder.class_names'''


def _numpy_pipeline(spec: Spec) -> list[str]:
    """The input pipeline without TensorFlow: scaled, normalised, channels-last float32 arrays,
    and a generator of the training batches, each epoch drawn by ``training_batches`` (the
    JAX listing's, printed from ``common/data/batches.py``) as the epoch starts."""
    data = spec.data
    batches = listing_data.training_batches(spec, epoch=Code("epoch"))
    arrays = listing_data.channels_last(spec, '{}_labels.reshape(-1, 1).astype("float32")', '{}_labels.astype("int32")')
    epochs = [
        "def training_epochs(n_epochs):",
        f'    """Training batches ({SAMPLING[data.sampler]}), epoch after epoch, each drawn as it starts."""',
        "    for epoch in range(n_epochs):",
        render("yield from ", batches, indent=8),
    ]
    return [*arrays, *definitions(BATCHES, ["training_batches"]), "\n".join(epochs)]


SAMPLING = {"balanced": "balanced, with replacement", "shuffle": "shuffled", "sequential": "in order"}


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
    """``compile``: the loss, the optimizer, and the book's epoch loss (``BatchMeanLoss``)
    with the accuracy as metrics."""
    loss_fn, optimizer = LOSSES[spec.train.loss], optimizer_call(spec.train)
    metrics = [call("BatchMeanLoss", Code("loss_fn")), METRICS[spec.train.loss]]
    compiled = call("model.compile", optimizer=optimizer, loss=Code("loss_fn"), metrics=metrics)
    lines = [
        "# Loss and optimizer; the book's epoch loss is the plain mean of its batch losses",
        render("loss_fn = ", loss_fn),
        render("", Call(compiled.path, (), compiled.kwargs, explode=True)),
    ]
    return [*definitions(SEMANTICS, [*names([loss_fn, optimizer]), "BatchMeanLoss"]), "\n".join(lines)]


def training(spec: Spec) -> list[str]:
    """Keras' own loop: ``set_random_seed`` first, ``fit`` printing one summary per epoch."""
    return _backend_training(spec, "tensorflow")


def _backend_training(spec: Spec, backend: str) -> list[str]:
    """``fit`` over ``tf.data`` on TensorFlow; over the generator of numpy batches, with the
    splits as arrays, on the other backends."""
    seed = spec.train.seed
    if backend == "tensorflow":
        fed = {"x": Code("train_batches.repeat()"), "steps_per_epoch": Code("len(train_batches)")}
        fed |= {"epochs": Code("n_epochs"), "validation_data": Code("val_batches")}
        comment = "# Repeated, one iterator for every epoch: each repetition draws its epoch as it starts"
    else:
        steps = f"math.ceil(len(y_train) / {spec.data.batch_size})"
        fed = {"x": Code("training_epochs(n_epochs)"), "steps_per_epoch": Code(steps), "epochs": Code("n_epochs")}
        fed |= {"validation_data": Code("(x_val, y_val)"), "validation_batch_size": spec.data.batch_size}
        comment = "# One generator for every epoch: each epoch's batches are drawn as it starts"
    x = fed.pop("x")
    scheduled, making = listing_data.scheduler(spec, str(fed["steps_per_epoch"]))
    if spec.train.scheduler is not None:
        scheduled.append(_scheduler_callback(spec.train.scheduler.per_step))
        fed["callbacks"] = [Code("TorchScheduler(scheduler)")]
    fit = call("model.fit", x, **fed, shuffle=False, verbose=2)  # shuffle: the batches draw their own order
    lines = [
        "# Training: Keras' own loop",
        f"n_epochs = {spec.train.epochs}",
        *making,
        "",
        f"keras.utils.set_random_seed({seed})  # the spec's training seed (the batches' generator has it)",
        comment,
        render("history = ", Call(fit.path, fit.args, fit.kwargs, explode=True)),
    ]
    if not spec.data.has_test_split:
        return [*scheduled, "\n".join(lines)]
    if backend == "tensorflow":
        evaluate = call("model.evaluate", Code("test_batches"), return_dict=True, verbose=0)
    else:
        test_batch = {"batch_size": spec.data.batch_size}
        evaluate = call("model.evaluate", Code("x_test"), Code("y_test"), **test_batch, return_dict=True, verbose=0)
    test = [
        "# Test: once, after training",
        render("scores = ", evaluate),
        'test_loss, test_acc = scores["batch_mean_loss"], scores["accuracy"]',
        'print(f"test_loss {test_loss:.4f}  test_acc {test_acc:.2%}")',
    ]
    return [*scheduled, "\n".join(lines), "\n".join(test)]


def _scheduler_callback(per_step: bool) -> str:
    """The callback that sets the optimizer's rate from the scheduler; a batch hook only for a
    batch scheduler (with one, ``fit`` waits for every step)."""
    return SCHEDULER_CALLBACK.format(
        batch_hook=BATCH_HOOK if per_step else "", epoch_hook="" if per_step else EPOCH_HOOK
    )


SCHEDULER_CALLBACK = """\
class TorchScheduler(keras.callbacks.Callback):
    \"\"\"Sets the optimizer's rate (and momentum) from torch's scheduler: as training starts,
    then after every batch for a batch scheduler, after every epoch for the others.\"\"\"

    def __init__(self, scheduler):
        super().__init__()
        self.scheduler = scheduler

    def on_train_begin(self, logs=None):
        self.apply()
{batch_hook}{epoch_hook}
    def apply(self):
        # On JAX, fit carries the variables through an epoch: put them back first
        getattr(self.model, "jax_state_sync", lambda: None)()
        self.model.optimizer.learning_rate.assign(self.scheduler.lr)
        if self.scheduler.momentum is not None:
            self.model.optimizer.momentum_variable.assign(self.scheduler.momentum)"""

BATCH_HOOK = """
    def on_train_batch_end(self, batch, logs=None):
        self.scheduler.step()
        self.apply()
"""

EPOCH_HOOK = """
    def on_epoch_end(self, epoch, logs=None):
        # ReduceLROnPlateau watches the validation loss; the others count epochs
        self.scheduler.step(logs["val_batch_mean_loss"])
        self.apply()
"""


def results(spec: Spec) -> list[str]:
    """The model saved, the losses plotted, and one validation image classified."""
    return _column_results(spec, "keras")


def _column_results(spec: Spec, column: str) -> list[str]:
    """The results section, its files named after ``column``."""
    yhat = "model.predict(x_val[:1], verbose=0)"
    predicted = {"bce": f"{yhat}[0, 0] > 0.5", "bce_logits": f"{yhat}[0, 0] > 0"}.get(spec.train.loss)
    saving = [
        "# keras.saving.load_model(path) reads it back (custom_objects: the classes above)",
        f'model.save("{listing_data.saved_as(spec, column, ".keras")}")',
        'losses, val_losses = history.history["batch_mean_loss"], history.history["val_batch_mean_loss"]',
    ]
    return listing_data.results(spec, column, saving, [f"predicted = int({predicted or f'np.argmax({yhat})'})"])


# -- helpers ----------------------------------------------------------------------------


def _initialised(spec: Spec) -> bool:
    return any(layer.kind in ("linear", "conv2d") for layer in spec.model.layers)
