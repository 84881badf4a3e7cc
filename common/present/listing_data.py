"""The data section every listing shares: the images, the split, the class names, in numpy.

A listing is a program a student takes home, so it makes its data itself. The generators
are printed from ``common/data`` as they stand (the very code that makes the column's
bytes), and where a spec names a real dataset (``data.source``) a ``DATA`` line takes the
user's copy of it instead, read as the framework's users read it (the column's listing
passes that code in). The split is torch's ``random_split`` after ``torch.manual_seed`` in
the torch listings; the others print its numpy replay (``common.data.prep.split_indices``),
so that every listing of a spec trains and validates on the same samples.

The section ends with uint8 ``(N, C, H, W)`` images and int64 labels per split
(``train_images``, ``train_labels``, ``val_images``, ...), and ``classes``. The results
section and, where a framework lacks torch's schedules, the scheduler are shared too.
"""

from __future__ import annotations

from pathlib import Path

from common.calls import Call, Name, Source, call
from common.data.classes import class_names
from common.present.source import Code, definitions, literal, render
from common.runs.schedules import schedule_call
from spec.schema import Spec

DATA = Path(__file__).resolve().parents[1] / "data"
GENERATORS = {  # dataset kind -> the module whose definitions a listing prints, in order
    "lines": (DATA / "lines.py", ["draw_line", "generate_lines"]),
    "colors": (DATA / "colors.py", ["NOISE", "DIM", "LIT", "JITTER", "shape_mask", "generate_colors"]),
}
SOURCES = {  # what DATA names, for people
    "mnist": "MNIST instead: the path of your copy of Keras' mnist.npz",
    "cifar10": "CIFAR-10 instead: the path of your cifar-10-batches-py folder (its python version)",
    "image_folder": "your own images instead: the path of a folder with one sub-folder per class",
}
OWN_TEST = ("mnist", "cifar10")  # real datasets with a test set of their own

MNIST = '''\
def load_mnist(path):
    """Keras' mnist.npz: 60,000 training and 10,000 test digits, 28 x 28, grey."""
    with np.load(path) as mnist:  # arrays only: np.load refuses pickles unless told otherwise
        train = mnist["x_train"][:, None], mnist["y_train"].astype(np.int64)
        test = mnist["x_test"][:, None], mnist["y_test"].astype(np.int64)
    return train, test, [str(digit) for digit in range(10)]'''

CIFAR10 = '''\
class ArraysOnly(pickle.Unpickler):
    """CIFAR-10's batches are pickles, and a pickle may run any code it names: this one
    builds the arrays and bytes a batch holds, and refuses everything else."""

    ALLOWED = {"ndarray", "dtype", "_reconstruct", "encode"}  # from numpy and _codecs

    def find_class(self, module, name):
        if module.split(".")[0] not in ("numpy", "_codecs") or name not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name}: not in a CIFAR-10 batch")
        return super().find_class(module, name)


def load_cifar10(folder, keep):
    """CIFAR-10's python batches: the classes named in ``keep`` (all, for None),
    relabelled 0, 1, ... in that order."""

    def batch(name):
        with open(f"{folder}/{name}", "rb") as file:
            content = ArraysOnly(file, encoding="bytes").load()
        return content[b"data"].reshape(-1, 3, 32, 32), np.array(content[b"labels"])

    with open(f"{folder}/batches.meta", "rb") as file:
        meta = ArraysOnly(file, encoding="bytes").load()
    names = [name.decode() for name in meta[b"label_names"]]
    keep = keep or names
    relabel = np.full(len(names), -1)
    relabel[[names.index(name) for name in keep]] = np.arange(len(keep))
    parts = [[batch(f"data_batch_{i}") for i in range(1, 6)], [batch("test_batch")]]
    own = []
    for part in parts:
        images = np.concatenate([x for x, _ in part])
        labels = relabel[np.concatenate([y for _, y in part])]
        own.append((images[labels >= 0], labels[labels >= 0].astype(np.int64)))
    return own[0], own[1], list(keep)'''


def data(spec: Spec, folder_loader: str, split_with_torch: bool) -> list[str]:
    """The whole section. ``folder_loader``: the framework's own reading of an image folder,
    a function ``load_image_folder(path)`` returning images, labels and class names, for a
    spec on one; ``split_with_torch``: the book's ``random_split`` (torch) or its replay."""
    blocks = _generated(spec)
    source = spec.data.source
    if source is not None:
        blocks += _own_data(spec, folder_loader)
    return [*blocks, *_split(spec, split_with_torch)]


def _generated(spec: Spec) -> list[str]:
    """The generator's source, then the call that makes the spec's images, and their classes."""
    dataset = spec.data.dataset
    path, names = GENERATORS[dataset.kind]
    params = {key: value for key, value in dataset.params.items() if key != "path"}
    made = call(f"generate_{dataset.kind}", **params)
    classes = list(class_names(dataset.kind, params))
    lines = [
        f"# Data: {dataset.kind} images, uint8 (N, C, H, W), and their labels, int64",
        render("images, labels = ", made),
        render("classes = ", classes),
    ]
    return [*definitions(path, names), "\n".join(lines)]


def _own_data(spec: Spec, folder_loader: str) -> list[str]:
    """``DATA = None``, what the user may set it to, and the reading of it."""
    source = spec.data.source
    if source.kind == "mnist":
        loader, read = MNIST, "load_mnist(DATA)"
    elif source.kind == "cifar10":
        loader, read = CIFAR10, f"load_cifar10(DATA, {literal(source.params['classes'])})"
    else:
        loader, read = folder_loader, "load_image_folder(DATA)"
    lines = [f"# Or {SOURCES[source.kind]}", "DATA = None", "if DATA is not None:"]
    if source.kind in OWN_TEST:
        lines.append(f"    (images, labels), own_test, classes = {read}")
    else:
        lines.append(f"    images, labels, classes = {read}")
    return [loader, "\n".join(lines)]


def _split(spec: Spec, with_torch: bool) -> list[str]:
    """Train, validation (and test) arrays: the spec's random split; with a real dataset's
    own test set, that set validates (two fractions) or tests (three: the training set
    split by the first two, rescaled)."""
    data = spec.data
    names = ["train", "val", "test"][: len(data.split_fractions)]
    lines = ["# Split: the book's torch.manual_seed(seed) and random_split"]
    blocks = []
    if not with_torch:  # every listing of the spec trains on the same samples
        lines[0] += ", replayed in numpy"
        blocks = definitions(DATA / "prep.py", ["split_indices"])
    own = data.source is not None and data.source.kind in OWN_TEST
    fractions = list(data.split_fractions)
    if own:  # written out for the generated images, and for the real set's own test set
        f_train, f_val = fractions[:2]
        own_fractions = [f_train / (f_train + f_val), f_val / (f_train + f_val)] if data.has_test_split else None
        lines += _split_lines(names, fractions, data.split_seed, with_torch, indent="    ", head="if DATA is None:")
        lines.append("else:  # the real set's own test set " + ("tests" if data.has_test_split else "validates"))
        if own_fractions:
            lines += _split_lines(names[:2], own_fractions, data.split_seed, with_torch, indent="    ")
            lines.append("    test_images, test_labels = own_test")
        else:
            lines += ["    train_images, train_labels = images, labels", "    val_images, val_labels = own_test"]
    else:
        lines += _split_lines(names, fractions, data.split_seed, with_torch)
    return [*blocks, "\n".join(lines)]


def _split_lines(
    names: list[str], fractions: list[float], seed: int, with_torch: bool, indent: str = "", head: str | None = None
) -> list[str]:
    parts = ", ".join(f"{name}_idx" for name in names)
    if with_torch:
        made = [
            f"torch.manual_seed({seed})",
            render(f"{parts} = ", call("random_split", Name("range(len(labels))"), fractions)),
        ]
        indices = [f"{name}_idx.indices" for name in names]
    else:
        made = [render(f"{parts} = ", call("split_indices", Name("len(labels)"), fractions, seed))]
        indices = [f"{name}_idx" for name in names]
    made += [f"{name}_images, {name}_labels = images[{index}], labels[{index}]" for name, index in zip(names, indices)]
    return ([head] if head else []) + [indent + line for text in made for line in text.splitlines()]


def normalization(spec: Spec, train: str) -> list[str]:
    """Blocks that set the per-channel ``mean`` and ``std`` that torchvision's ``Normalize``
    takes: the spec's, or (``normalize: auto``) the training images' (``train``, scaled to
    [0, 1]), computed as the column computes them (``common.data.prep.channel_stats``)."""
    data = spec.data
    if data.normalize == "auto":
        stats = "# normalize: auto - each channel's mean and std over the training images\n"
        return [*definitions(DATA / "prep.py", ["channel_stats"]), stats + f"mean, std = channel_stats({train})"]
    if data.mean is None:
        return []
    return [f"mean, std = {list(data.mean)!r}, {list(data.std)!r}"]


def channels_last(spec: Spec, binary_targets: str, class_targets: str) -> list[str]:
    """Blocks that make float32 inputs ``x_<split>`` from the images as the book scales them,
    normalised per channel as torchvision's ``Normalize`` does (in float32, elementwise: the
    same numbers in any layout), channels-last; and the targets ``y_<split>``, written by
    ``binary_targets`` (BCE's float ``(N, 1)``) or ``class_targets`` from ``<split>_labels``."""
    splits_ = splits(spec)
    scaled = ["# Inputs: pixels scaled to [0, 1] as the book scales them, float32 (N, C, H, W)"]
    scaled += [f'x_{name} = ({name}_images / 255).astype("float32")' for name in splits_]
    if normalizes(spec):
        lines = [
            "# Channels-last (N, H, W, C), normalised per channel as torchvision's Normalize does",
            'mean, std = np.array(mean, "float32"), np.array(std, "float32")',
            *(f"x_{name} = (x_{name}.transpose(0, 2, 3, 1) - mean) / std" for name in splits_),
        ]
    else:
        lines = ["# Channels-last: (N, H, W, C)", *(f"x_{name} = x_{name}.transpose(0, 2, 3, 1)" for name in splits_)]
    if spec.train.loss in ("bce", "bce_logits"):
        targets, comment = binary_targets, "BCE wants float (N, 1) targets"
    else:
        targets, comment = class_targets, "class indices"
    lines += [f"y_{name} = {targets.format(name)}" + (f"  # {comment}" if name == "train" else "") for name in splits_]
    return ["\n".join(scaled), *normalization(spec, "x_train"), "\n".join(lines)]


def training_batches(spec: Spec, **more: object) -> Call:
    """The call of a printed ``training_batches`` (tf's, or the numpy one JAX's listing
    prints) on the training arrays: the spec's batch size, sampler, flips and training seed."""
    data = spec.data
    return call(
        "training_batches",
        Code("x_train"),
        Code("y_train"),
        batch_size=data.batch_size,
        sampler=data.sampler,
        hflip=data.hflip,
        seed=spec.train.seed,
        **more,
    )


def standard_imports(spec: Spec, *others: str) -> list[str]:
    """The standard library's import lines, as isort orders them and then a blank line:
    ``others`` and what the data section needs (pickle, for CIFAR-10's batches)."""
    lines = [
        *others,
        *(["import pickle"] if spec.data.source is not None and spec.data.source.kind == "cifar10" else []),
    ]
    return [*sorted(lines, key=lambda line: (line.startswith("from "), line)), ""] if lines else []


def reads_folder(spec: Spec) -> bool:
    """Whether the spec may train on a folder of images (``data.source: image_folder``)."""
    return spec.data.source is not None and spec.data.source.kind == "image_folder"


def normalizes(spec: Spec) -> bool:
    """Whether the inputs are normalised: by the spec's mean and std, or by the training split's."""
    return spec.data.mean is not None or spec.data.normalize == "auto"


def splits(spec: Spec) -> tuple[str, ...]:
    return ("train", "val", "test") if spec.data.has_test_split else ("train", "val")


def results(spec: Spec, column: str, saving: list[str], classifying: list[str]) -> list[str]:
    """The results section every listing ends with: the model saved (the lines ``saving``,
    which also name ``losses`` and ``val_losses`` where training did not), the losses
    plotted, and validation image 0 classified (``classifying`` sets ``predicted``)."""
    lines = [
        "# Results: the model saved, the losses plotted, one validation image classified",
        *saving,
        "",
        loss_figure(spec, column),
        "",
        *classifying,
        'print(f"validation image 0: {classes[val_labels[0]]}, classified as {classes[predicted]}")',
    ]
    return ["\n".join(lines)]


def saved_as(spec: Spec, column: str, suffix: str) -> str:
    """The name a listing gives a file it writes, after the spec and the column
    (``cnn1_torch.pt``): a folder of several listings' runs keeps each one's."""
    return f"{spec.name}_{column}{suffix}"  # a spec's name is an identifier: safe in a file name


def loss_figure(spec: Spec, column: str) -> str:
    """The losses as the book plots them (``StepByStep.plot_losses``), saved as
    ``<spec>_<column>_loss.png``."""
    losses, val_losses = "losses", "val_losses"
    return "\n".join(
        [
            "fig, ax = plt.subplots(figsize=(6, 4))",
            f'ax.plot(range(1, len({losses}) + 1), {losses}, label="training")',
            f'ax.plot(range(1, len({val_losses}) + 1), {val_losses}, label="validation")',
            'ax.set(xlabel="epoch", ylabel="loss", yscale="log")',
            "ax.legend()",
            f'fig.savefig("{saved_as(spec, column, "_loss.png")}")',
        ]
    )


SCHEDULES = Path(__file__).resolve().parents[1] / "runs" / "schedules.py"  # torch's schedulers in plain Python


def scheduler(spec: Spec, batches: str, *applied: str) -> tuple[list[str], list[str]]:
    """For a framework without torch's schedules: the spec's scheduler as torch's class written
    out in plain Python (``common/runs/schedules.py``, printed as it runs in the column), and
    the lines that make it over the optimizer's rate (after ``n_epochs``, which one_cycle may
    count), ``batches`` the text of an epoch's batch count; ``applied``, what puts its first
    rate on the optimizer. Nothing without a scheduler."""
    train = spec.train
    if train.scheduler is None:
        return [], []
    made = schedule_call(train.scheduler, train.optimizer_params["lr"], Source("n_epochs", 0), Source(batches, 0))
    comment = [
        f"# The learning rate's schedule: torch's {made.path} above, written in plain Python as torch",
        "# computes it (float64, step after step); the optimizer rounds each rate to float32",
    ]
    return definitions(SCHEDULES, [made.path]), [*comment, render("scheduler = ", made), *applied]
