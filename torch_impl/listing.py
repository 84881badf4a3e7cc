"""``run.py show --backend torch``: a spec as the PyTorch program the book would write for it.

The listing is a whole program a student takes home: it imports PyTorch (and numpy and
matplotlib), never twinspec, and runs from any folder. It makes its data (the generator,
printed from ``common/data``; or the user's copy of the spec's real dataset), splits it
with the book's ``random_split``, and then does what the book does: a ``Dataset`` that
transforms what it reads, ``DataLoader`` and sampler (reading whole batches, as
``torch_impl/data.py`` does: see its docstring), ``nn.Sequential`` filled with
``add_module`` (the calls of ``calls.py``, the very ones ``build`` makes), the book's
hand-written loop; then it saves the model, plots the losses and predicts an image. It runs
the book's run: the same seeds, so the same initial weights, draws and losses as the torch
column in ``nchw`` (``tests/test_listings.py`` runs every listing and compares).

Sections, in the listing's order (the same in every column's listing): header, imports,
data, input pipeline, model, loss and optimizer, training, results. Nothing here imports
torch: a listing is text, and its line ``n_epochs = N`` is the one place that sets the
epoch count.
"""

from __future__ import annotations

from pathlib import Path

from common.calls import call, names
from common.present import listing_data
from common.present.source import Code, binary_loss, definitions, join_sections, literal, render, styled
from common.present.source import header as listing_header
from spec.schema import Spec
from torch_impl.calls import (
    LOSSES,
    clip_call,
    dry_run,
    layer_calls,
    module_calls,
    NORMAL_GENERATOR,
    draws_normal,
    optimizer_call,
    reinit,
    scheduler_call,
    set_weights_calls,
)

FRAMEWORK = "PyTorch, in the style of Deep Learning with PyTorch Step-by-Step"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what torch lacks, printed from its source


def listing(spec: Spec, style: str | None = None) -> str:
    """The whole listing: one program that trains ``spec``, run from any folder; ``style``,
    how it writes the model (``source.STYLES``; None: as its column builds it)."""
    model_section = styled("torch", style, {"sequential": model, "module": _net_model})
    return join_sections(spec, header, imports, data, pipeline, model_section, loss_and_optimizer, training, results)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    sampler = {"balanced": "WeightedRandomSampler", "shuffle": "RandomSampler", "sequential": ""}[spec.data.sampler]
    loaders = ["BatchSampler", "DataLoader", "Dataset" if _transforms(spec) else "TensorDataset"]
    loaders = sorted({*loaders, "SequentialSampler", "random_split", sampler} - {""}, key=str.lower)
    lines = [
        *listing_data.standard_imports(spec),
        "import matplotlib.pyplot as plt",
        "import numpy as np",
        "import torch",
        "from torch import nn, optim",
        _import_line("torch.utils.data", loaders),
    ]
    if listing_data.reads_folder(spec):
        lines.append("from torchvision import datasets")
    if _transforms(spec) or listing_data.reads_folder(spec):
        lines.append("from torchvision.transforms import v2")
    return "\n".join(lines)


def data(spec: Spec) -> list[str]:
    """The images and the split, as numpy arrays: the generator, printed; the book's split."""
    return listing_data.data(spec, _folder_loader(spec), split_with_torch=True)


def _folder_loader(spec: Spec) -> str:
    """A folder of images as torchvision reads one (``data.source: image_folder``)."""
    if not listing_data.reads_folder(spec):
        return ""
    params = spec.data.source.params
    grey = "v2.Grayscale(), " if params["channels"] == 1 else ""
    return FOLDER.format(size=tuple(params["size"]), grey=grey)


FOLDER = '''\
def load_image_folder(path):
    """A folder of images, one sub-folder per class, as torchvision reads it: each image
    resized with PIL's bilinear filter, as uint8 (C, H, W)."""
    transform = v2.Compose([{grey}v2.Resize({size}), v2.PILToTensor()])
    folder = datasets.ImageFolder(path, transform=transform)
    images, labels = zip(*folder)
    return torch.stack(images).numpy(), np.array(labels), folder.classes'''


def pipeline(spec: Spec) -> list[str]:
    """The book's tensors (pixels / 255), its ``TransformedTensorDataset`` (if anything
    transforms), sampler and loaders, reading whole batches: the loaders' batch samplers
    hand the datasets a batch of indices."""
    data = spec.data
    if binary_loss(spec):
        targets, comment = "torch.as_tensor({}_labels).float().view(-1, 1)", "BCE wants float (N, 1) targets"
    else:
        targets, comment = "torch.as_tensor({}_labels).long()", "class indices"
    tensors = ["# Tensors: pixels scaled to [0, 1] as the book scales them, float32 (N, C, H, W)"]
    for name in listing_data.splits(spec):
        note = f"  # {comment}" if name == "train" else ""
        tensors += [
            f"x_{name} = torch.as_tensor({name}_images / 255).float()",
            f"y_{name} = {targets.format(name)}{note}",
        ]
    blocks, lines = ["\n".join(tensors)], []
    if _transforms(spec):
        blocks.append(TRANSFORMED_DATASET)
        train, val = [], []
        if data.hflip:
            blocks.append(RANDOM_FLIPS)
            train.append(f"RandomHorizontalFlips(p={literal(data.hflip)})")
        if listing_data.normalizes(spec):
            blocks += listing_data.normalization(spec, "x_train.numpy()")
            lines.append("normalizer = v2.Normalize(mean=mean, std=std)")
            train.append("normalizer")
            val.append("normalizer")
        if len(train) > 1:
            lines.append(f"train_composer = v2.Compose([{', '.join(train)}])  # flips: training only")
            train = ["train_composer"]
        lines.append(f"train_set = TransformedTensorDataset(x_train, y_train, transform={train[0]})")
        lines.append(f"val_set = TransformedTensorDataset(x_val, y_val{''.join(', transform=' + v for v in val)})")
        if data.has_test_split:
            transform = "".join(", transform=" + v for v in val)
            lines.append(f"test_set = TransformedTensorDataset(x_test, y_test{transform})")
    else:
        lines += ["train_set = TensorDataset(x_train, y_train)", "val_set = TensorDataset(x_val, y_val)"]
        if data.has_test_split:
            lines.append("test_set = TensorDataset(x_test, y_test)")
    batch = data.batch_size
    if data.sampler == "balanced":
        lines += ["", "# Balanced sampling: each sample weighs 1 / (its class count), drawn with replacement"]
        labels = "y_train"
        if binary_loss(spec):
            labels = "labels"
            lines.append("labels = y_train.view(-1).long()")
        sampler = call(
            "WeightedRandomSampler",
            Code("sample_weights"),
            num_samples=Code("len(sample_weights)"),
            replacement=True,
            generator=Code("generator"),
        )
        lines += [
            f"weights = 1.0 / torch.bincount({labels}).float()",
            f"sample_weights = weights[{labels}]",
            "generator = torch.Generator()",
            render("sampler = ", sampler),
        ]
    elif data.sampler == "shuffle":
        lines.append("sampler = RandomSampler(train_set)  # its seed comes from torch's global generator")
    else:
        lines.append("sampler = SequentialSampler(train_set)  # in order")
    lines += [
        "",
        "# Loaders of whole batches: the batch sampler hands each dataset a batch of indices",
        f"train_batches = BatchSampler(sampler, batch_size={batch}, drop_last=False)",
        "train_loader = DataLoader(train_set, sampler=train_batches, batch_size=None)",
        f"val_batches = BatchSampler(SequentialSampler(val_set), batch_size={batch}, drop_last=False)",
        "val_loader = DataLoader(val_set, sampler=val_batches, batch_size=None)",
    ]
    if data.has_test_split:
        lines += [
            f"test_batches = BatchSampler(SequentialSampler(test_set), batch_size={batch}, drop_last=False)",
            "test_loader = DataLoader(test_set, sampler=test_batches, batch_size=None)",
        ]
    return [*blocks, "\n".join(lines)]


TRANSFORMED_DATASET = '''\
class TransformedTensorDataset(Dataset):
    """Tensors, with a transform applied as they are read (the book's dataset), a whole
    batch at a time: indices is a batch of them, and the transform runs once per batch."""

    def __init__(self, x, y, transform=None):
        self.x = x
        self.y = y
        self.transform = transform

    def __getitem__(self, indices):
        x = self.x[indices]
        if self.transform:
            x = self.transform(x)
        return x, self.y[indices]

    def __len__(self):
        return len(self.x)'''

RANDOM_FLIPS = '''\
class RandomHorizontalFlips(nn.Module):
    """v2.RandomHorizontalFlip for a batch: each image flips on its own draw, in order."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        flip = torch.rand(len(x)) < self.p  # one draw per image, as the per-image transform draws
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)'''


def model(spec: Spec) -> list[str]:
    """``nn.Sequential`` seeded as the book seeds it, one ``add_module`` per module ``build`` adds."""
    lines = [
        "# Model: seeded just before it is built, as in the book",
        f"torch.manual_seed({spec.model.seed})",
        "model = nn.Sequential()",
        *(render("", made) for made in module_calls(spec.model, "model")),
    ]
    return _built(spec, "model", ["\n".join(lines)])


def _net_model(spec: Spec) -> list[str]:
    """The seminar's other way (``--style module``): the same modules as attributes of
    ``class Net(nn.Module)``, made in the same order (so drawing the same initial weights)
    and applied in ``forward``."""
    seeded = ["# Model: seeded just before it is built, as in the book", f"torch.manual_seed({spec.model.seed})"]
    return _built(spec, "model", [_net_class(spec), "\n".join([*seeded, "model = Net()"])])


def _built(spec: Spec, model: str, building: list[str]) -> list[str]:
    """``building``'s blocks, with what runs after them: Keras' initial weights drawn again
    (``init: keras``, its helper printed first), the weights set by hand and the layers frozen."""
    again = reinit(spec.model, model)
    blocks = [*definitions(SEMANTICS, names(again)), *building, *_dry_run(spec, model)]
    return [*blocks, *_redrawn(spec, model), *_set_by_hand(spec, model)]


def _redrawn(spec: Spec, model: str) -> list[str]:
    """The initial weights drawn again after the build (``calls.reinit``), in one block; the
    normal draws' own generator first."""
    again = reinit(spec.model, model)
    if not again:
        return []
    lines = ["# Initial weights drawn again, as the spec's init says"]
    if draws_normal(spec.model):
        seeded = f"torch.Generator().manual_seed({spec.model.seed})"
        lines.append(f"{NORMAL_GENERATOR} = {seeded}  # normal draws from a generator of their own")
    return ["\n".join([*lines, *(render("", made) for made in again)])]


def _dry_run(spec: Spec, model: str) -> list[str]:
    """A model with lazy layers runs once on zeros (``calls.dry_run``), in eval mode where a
    dropout or batchnorm layer would draw or learn; no block without lazy layers."""
    made = dry_run(spec.model, model, spec.model.layers[0].in_shape)
    if made is None:
        return []
    modes = any(layer.kind in ("dropout", "batchnorm") for layer in spec.model.layers)
    lines = ["# A dry run: the lazy layers take their in_features, and draw their initial weights"]
    lines += [f"{model}.eval()  # dropout and batchnorm: nothing drawn, nothing learnt"] if modes else []
    lines += ["with torch.no_grad():", render("", made, indent=4), *([f"{model}.train()"] if modes else [])]
    return ["\n".join(lines)]


def _set_by_hand(spec: Spec, model: str) -> list[str]:
    """The weights set by hand and the layers frozen, after the build, if any (one block)."""
    calls = set_weights_calls(spec.model, model)
    return ["\n".join(["# Set by hand, or frozen", *(render("", made) for made in calls)])] if calls else []


def _net_class(spec: Spec) -> str:
    """``class Net(nn.Module)``: each module ``build`` adds, an attribute; ``forward``, each in turn."""
    modules = [(name, made) for layer in spec.model.layers for name, made in layer_calls(layer)]
    attributes = "\n".join(render(f"self.{name} = ", made, indent=8) for name, made in modules)
    applied = "\n".join(f"        x = self.{name}(x)" for name, _ in modules)
    return NET.format(attributes=attributes, applied=applied)


NET = '''\
class Net(nn.Module):
    """The model as a class: its layers made in __init__, applied in forward."""

    def __init__(self):
        super().__init__()
{attributes}

    def forward(self, x):
{applied}
        return x'''


def loss_and_optimizer(spec: Spec) -> list[str]:
    loss_fn, optimizer = LOSSES[spec.train.loss], optimizer_call(spec.train, call("model.parameters"))
    lines = ["# Loss and optimizer", render("loss_fn = ", loss_fn), render("optimizer = ", optimizer)]
    return [*definitions(SEMANTICS, names(loss_fn)), "\n".join(lines)]


def training(spec: Spec) -> list[str]:
    """The book's loop: ``set_seed`` first, mean batch losses, validation without gradients."""
    seed = spec.train.seed
    seeding = [f"torch.manual_seed({seed})  # the book's set_seed({seed})"]
    if spec.data.sampler == "balanced":
        seeding.append(f"generator.manual_seed({seed})  # which reseeds the sampler's generator too")
    predicted = ACCURACY[spec.train.loss]
    clipping = ""
    if spec.train.clip is not None:  # the book's set_clip_grad_value / set_clip_grad_norm
        clipping = render("", clip_call(spec.train.clip, call("model.parameters")), indent=8) + "\n"
    scheduler = spec.train.scheduler
    batch_step = (
        "        scheduler.step()  # a batch scheduler, after every step\n" if scheduler and scheduler.per_step else ""
    )
    epoch_step = made = ""
    if scheduler is not None:  # the book's set_lr_scheduler
        made = render("scheduler = ", scheduler_call(scheduler, spec.train.epochs, 0)) + "\n"
    if scheduler and not scheduler.per_step:
        watched = "val_losses[-1]" if scheduler.watches_loss else ""
        epoch_step = f"    scheduler.step({watched})  # an epoch scheduler, after every epoch\n"
    training = TRAINING.format(
        epochs=spec.train.epochs,
        seeding="\n".join(seeding),
        predicted=predicted,
        clipping=clipping,
        batch_step=batch_step,
        epoch_step=epoch_step,
        scheduler=made,
    )
    return [training, TESTING.format(predicted=predicted)] if spec.data.has_test_split else [training]


def results(spec: Spec) -> list[str]:
    """The weights saved, the losses plotted, and one validation image classified."""
    saving = [
        "# model.load_state_dict(torch.load(path)) reads the weights back",
        f'torch.save(model.state_dict(), "{listing_data.saved_as(spec, "torch", ".pt")}")',
    ]
    predicted = ACCURACY[spec.train.loss].replace("yhat", "model(x)")
    return listing_data.results(spec, "torch", saving, [CLASSIFYING.format(predicted=predicted)])


CLASSIFYING = """\
model.eval()
x, _ = val_set[[0]]
with torch.no_grad():
    predicted = int({predicted}.item())"""


ACCURACY = {  # the predicted classes, from yhat, to compare with y_batch
    "bce": "(yhat > 0.5).float()",
    "bce_logits": "(yhat > 0).float()",
    "cross_entropy": "yhat.argmax(dim=1)",
    "cross_entropy_probs": "yhat.argmax(dim=1)",
    "nll": "yhat.argmax(dim=1)",
}

TRAINING = """\
# Training: the book's loop
n_epochs = {epochs}
{scheduler}losses, val_losses = [], []

{seeding}
for epoch in range(1, n_epochs + 1):
    model.train()
    batch_losses = []
    for x_batch, y_batch in train_loader:
        loss = loss_fn(model(x_batch), y_batch)
        loss.backward()
{clipping}        optimizer.step()
        optimizer.zero_grad()
{batch_step}        batch_losses.append(loss.item())
    losses.append(np.mean(batch_losses))

    model.eval()
    batch_losses, n_correct = [], 0
    with torch.no_grad():
        for x_batch, y_batch in val_loader:
            yhat = model(x_batch)
            batch_losses.append(loss_fn(yhat, y_batch).item())
            n_correct += ({predicted} == y_batch).sum().item()
    val_losses.append(np.mean(batch_losses))
{epoch_step}    print(
        f"epoch {{epoch}}/{{n_epochs}}  loss {{losses[-1]:.4f}}  val_loss {{val_losses[-1]:.4f}}  "
        f"val_acc {{n_correct / len(val_set):.2%}}"
    )"""


TESTING = """\
# Test: once, after training, as the validation loop
model.eval()
batch_losses, n_correct = [], 0
with torch.no_grad():
    for x_batch, y_batch in test_loader:
        yhat = model(x_batch)
        batch_losses.append(loss_fn(yhat, y_batch).item())
        n_correct += ({predicted} == y_batch).sum().item()
test_loss, test_acc = np.mean(batch_losses), n_correct / len(test_set)
print(f"test_loss {{test_loss:.4f}}  test_acc {{test_acc:.2%}}")"""


# -- helpers ----------------------------------------------------------------------------


def _import_line(module: str, names: list[str]) -> str:
    """``from module import a, b``, in parentheses one name a line when it is too long (as black writes it)."""
    line = f"from {module} import {', '.join(names)}"
    return line if len(line) <= 100 else "\n".join([f"from {module} import (", *(f"    {n}," for n in names), ")"])


def _transforms(spec: Spec) -> bool:
    return bool(spec.data.hflip) or listing_data.normalizes(spec)
