"""``run.py show --backend torch``: a spec as the PyTorch source the book would write for it.

The listing is plain PyTorch in the style of *Deep Learning with PyTorch Step-by-Step*: a
``Dataset`` that transforms what it reads, ``DataLoader`` and sampler (reading whole
batches, as ``torch_impl/data.py`` does: see its docstring),
``nn.Sequential`` filled with ``add_module`` and the book's hand-written training loop.
Only its data section calls twinspec (the framework-free generator and split), so that a
spec's PyTorch and Keras listings train on the same bytes; everything else is written out
from the spec, with the layers' input sizes filled in from its inferred shapes. It runs
the book's run: the same seeds, so the same initial weights, draws and losses as
``torch_impl.runner.train_spec`` in ``nchw``.

Sections, in the listing's order (the same in ``keras_impl/listing.py``): header, imports,
data, input pipeline, model, loss and optimizer, training. Nothing here imports torch: a
listing is text, and its line ``n_epochs = N`` is the one place that sets the epoch count.
"""

from __future__ import annotations

from pathlib import Path

from common.calls import call, names
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
from spec.schema import Spec
from torch_impl.calls import LOSSES, module_calls, optimizer_call, reinit

FRAMEWORK = "PyTorch, in the style of Deep Learning with PyTorch Step-by-Step"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what torch lacks, printed from its source


def listing(spec: Spec) -> str:
    """The whole listing: one script that trains ``spec`` when run from the repository root."""
    return join_sections(spec, header, imports, data, pipeline, model, loss_and_optimizer, training)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    sampler = {"balanced": "WeightedRandomSampler", "shuffle": "RandomSampler", "sequential": ""}[spec.data.sampler]
    data = ["BatchSampler", "DataLoader", "Dataset" if _transforms(spec) else "TensorDataset"]
    data = sorted({*data, "SequentialSampler", sampler} - {""})
    lines = [
        "import numpy as np",
        "import torch",
        "from torch import nn, optim",
        _import_line("torch.utils.data", data),
    ]
    if _transforms(spec):
        lines.append("from torchvision.transforms import v2")
    return "\n".join([*lines, "", *TWINSPEC_IMPORTS])


TWINSPEC_IMPORTS = [
    "from common.data.datasets import load_dataset",
    "from common.data.prep import split_dataset",
    "from spec import load_spec",
]


def data(spec: Spec) -> list[str]:
    """twinspec's arrays as tensors: BCE wants float ``(N, 1)`` targets, the others int64."""
    if binary_loss(spec):
        targets, comment = "torch.as_tensor(split.y_{}.reshape(-1, 1)).float()", "BCE wants float (N, 1) targets"
    else:
        targets, comment = "torch.as_tensor(split.y_{}).long()", "class indices"
    lines = [
        "# Data: twinspec's split (the Keras listing trains on the same bytes), float32 (N, C, H, W)",
        f"spec = load_spec({literal(spec_path(spec))})",
        "split = split_dataset(load_dataset(spec.data.dataset), spec.data)",
        "x_train = torch.as_tensor(split.x_train)",
        "x_val = torch.as_tensor(split.x_val)",
        f"y_train = {targets.format('train')}  # {comment}",
        f"y_val = {targets.format('val')}",
    ]
    if spec.data.has_test_split:
        lines += ["x_test = torch.as_tensor(split.x_test)  # used once, after training"]
        lines.append(f"y_test = {targets.format('test')}")
    return ["\n".join(lines)]


def pipeline(spec: Spec) -> list[str]:
    """The book's ``TransformedTensorDataset`` (if anything transforms), sampler and loaders,
    reading whole batches: the loaders' batch samplers hand the datasets a batch of indices."""
    data = spec.data
    blocks, lines = [], []
    if _transforms(spec):
        blocks.append(TRANSFORMED_DATASET)
        train, val = [], []
        if data.hflip:
            blocks.append(RANDOM_FLIPS)
            train.append(f"RandomHorizontalFlips(p={literal(data.hflip)})")
        if data.normalize == "auto":
            lines += [
                "# normalize: auto - each channel's mean and std over the stacked training images",
                "stacked = x_train.transpose(0, 1).reshape(x_train.shape[1], -1)  # (C, N * H * W)",
                "normalizer = v2.Normalize(mean=stacked.mean(dim=1).tolist(), std=stacked.std(dim=1).tolist())",
            ]
            train.append("normalizer")
            val.append("normalizer")
        elif data.mean is not None:
            normalize = call("v2.Normalize", mean=list(data.mean), std=list(data.std))
            lines.append(render("normalizer = ", normalize))
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
    again = reinit(spec.model)
    return [*definitions(SEMANTICS, names(again)), "\n".join(lines), *(render("", made) for made in again)]


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
    training = TRAINING.format(epochs=spec.train.epochs, seeding="\n".join(seeding), predicted=predicted)
    return [training, TESTING.format(predicted=predicted)] if spec.data.has_test_split else [training]


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
losses, val_losses = [], []

{seeding}
for epoch in range(1, n_epochs + 1):
    model.train()
    batch_losses = []
    for x_batch, y_batch in train_loader:
        loss = loss_fn(model(x_batch), y_batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        batch_losses.append(loss.item())
    losses.append(np.mean(batch_losses))

    model.eval()
    batch_losses, n_correct = [], 0
    with torch.no_grad():
        for x_batch, y_batch in val_loader:
            yhat = model(x_batch)
            batch_losses.append(loss_fn(yhat, y_batch).item())
            n_correct += ({predicted} == y_batch).sum().item()
    val_losses.append(np.mean(batch_losses))
    print(
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
print(f"test_loss {{np.mean(batch_losses):.4f}}  test_acc {{n_correct / len(test_set):.2%}}")"""


# -- helpers ----------------------------------------------------------------------------


def _import_line(module: str, names: list[str]) -> str:
    """``from module import a, b``, in parentheses one name a line when it is too long (as black writes it)."""
    line = f"from {module} import {', '.join(names)}"
    return line if len(line) <= 100 else "\n".join([f"from {module} import (", *(f"    {n}," for n in names), ")"])


def _transforms(spec: Spec) -> bool:
    return bool(spec.data.hflip) or _normalizes(spec)


def _normalizes(spec: Spec) -> bool:
    """Whether the inputs are normalised: by the spec's mean and std, or by the training split's."""
    return spec.data.mean is not None or spec.data.normalize == "auto"
