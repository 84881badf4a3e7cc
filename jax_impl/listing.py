"""``run.py show --backend jax``: a spec as the JAX source the Flax documentation's MNIST
tutorial writes: an ``nnx.Module`` class with its layers made in ``__init__`` and applied in
``__call__``, an Optax optimizer in an ``nnx.Optimizer``, a ``train_step`` that takes
``nnx.value_and_grad`` of the loss and updates, compiled with ``jax.jit``, and batches from
numpy.

Only its data section calls twinspec (the framework-free generator and split), so that every
listing of a spec trains on the same bytes. The model's modules and ops are written out from
the spec as ``jax_impl/build.py`` makes them; the helpers (losses, torch's init) are copied
from ``jax_impl/semantics.py``, so the listing shows the code that runs. It draws the same
initial weights as ``jax_impl.build.build_model`` in ``nhwc``; its training draws are its own.

Sections, in the listing's order (the same in ``torch_impl/listing.py``): header, imports,
data, input pipeline, model, loss and optimizer, training. Nothing here imports JAX.
"""

from __future__ import annotations

import re
from pathlib import Path

from common.calls import names
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
from jax_impl.calls import LOSSES, Options, model_layers, optimizer_call
from spec.schema import Spec

FRAMEWORK = "JAX with Flax NNX and Optax, in the style of Flax's MNIST tutorial"
SEMANTICS = Path(__file__).with_name("semantics.py")  # what Flax and Optax lack, printed from its source


def listing(spec: Spec) -> str:
    """The whole listing: one script that trains ``spec`` when run from the repository root."""
    return join_sections(spec, header, imports, data, pipeline, model, loss_and_optimizer, training)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    lines = ["import math", ""] if spec.model.init == "torch" else []
    lines += ["import jax", "import jax.numpy as jnp", "import numpy as np", "import optax", "from flax import nnx"]
    return "\n".join([*lines, "", *TWINSPEC_IMPORTS])


TWINSPEC_IMPORTS = [
    "from common.data.datasets import load_dataset",
    "from common.data.prep import split_dataset",
    "from spec import load_spec",
]


def data(spec: Spec) -> list[str]:
    """twinspec's arrays channels-last, normalised in numpy; BCE wants float ``(N, 1)`` targets."""
    targets = 'split.y_{}.reshape(-1, 1).astype("float32")' if binary_loss(spec) else "split.y_{}"
    lines = [
        "# Data: twinspec's split (the other listings train on the same bytes), float32 (N, C, H, W)",
        f"spec = load_spec({literal(spec_path(spec))})",
        "split = split_dataset(load_dataset(spec.data.dataset), spec.data)",
    ]
    if spec.data.normalize == "auto":
        lines += [
            "mean = split.x_train.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)",
            "std = split.x_train.std(axis=(0, 2, 3), ddof=1, dtype=np.float64).astype(np.float32)",
        ]
    elif spec.data.mean is not None:
        lines += [f"mean = np.array({list(spec.data.mean)}, np.float32)", f"std = np.array({list(spec.data.std)}, np.float32)"]
    normalizes = spec.data.mean is not None or spec.data.normalize == "auto"
    for name in _splits(spec):
        x = f"split.x_{name}.transpose(0, 2, 3, 1)"  # channels-last: (N, H, W, C)
        lines.append(f"x_{name} = ({x} - mean) / std" if normalizes else f"x_{name} = {x}")
        lines.append(f"y_{name} = {targets.format(name)}")
    return ["\n".join(lines)]


def pipeline(spec: Spec) -> list[str]:
    """Batches from numpy: each epoch drawn anew from a numpy generator."""
    data, batch = spec.data, spec.data.batch_size
    body = []
    if data.sampler == "balanced":
        labels = "y_train.ravel().astype(int)" if binary_loss(spec) else "y_train"
        body += [
            f"    weights = 1 / np.bincount({labels})[{labels}]  # each sample: 1 / (its class count)",
            "    order = rng.choice(len(x_train), size=len(x_train), p=weights / weights.sum())",
        ]
    elif data.sampler == "shuffle":
        body.append("    order = rng.permutation(len(x_train))")
    else:
        body.append("    order = np.arange(len(x_train))")
    body.append("    x, y = x_train[order], y_train[order]")
    if data.hflip:
        body += [
            f"    flips = rng.random(len(x)) < {literal(data.hflip)}",
            "    x = np.where(flips[:, None, None, None], x[:, :, ::-1], x)  # mirrors W",
        ]
    body.append(f"    return [(x[i : i + {batch}], y[i : i + {batch}]) for i in range(0, len(x), {batch})]")
    function = "\n".join(["def training_batches(rng):", '    """One epoch of numpy batches, drawn anew."""', *body])
    batches = "\n".join(
        f"{name}_data = [(x_{name}[i : i + {batch}], y_{name}[i : i + {batch}]) for i in range(0, len(x_{name}), {batch})]"
        for name in _splits(spec)[1:]
    )
    return [function, "# Input pipeline: numpy batches\n" + batches]


def model(spec: Spec) -> list[str]:
    """An ``nnx.Module`` seeded as ``build_model`` seeds its model: each layer's statements of
    ``calls.py``, modules in ``__init__``, ops in ``__call__``."""
    layers = model_layers(spec.model, "nhwc", Options(spec.model.init))
    init = ["    def __init__(self, rngs: nnx.Rngs):"]
    init += [render_statement(statement, 8) for layer in layers for statement in layer.modules]
    forward = ["    def __call__(self, x):"]
    forward += [render_statement(statement, 8) for layer in layers for statement in layer.ops]
    forward.append("        return x")
    name = _class_name(spec.name)
    lines = [f"class {name}(nnx.Module):", f'    """{spec.name}, in Flax NNX modules."""', ""]
    used = names([statement for layer in layers for statement in (*layer.modules, *layer.ops)])
    made = f"model = {name}(nnx.Rngs({spec.model.seed}))  # the seed draws every initial weight, then dropout's masks"
    return [*definitions(SEMANTICS, used), "\n".join([*lines, *init, "", *forward]), made]


def loss_and_optimizer(spec: Spec) -> list[str]:
    """The loss as ``semantics.py`` writes it, and the Optax optimizer over the model's parameters."""
    loss_fn, optimizer = LOSSES[spec.train.loss], optimizer_call(spec.train)
    lines = ["# Loss and optimizer", f"loss_fn = {loss_fn}", render("optimizer = ", optimizer)]
    return [*definitions(SEMANTICS, names([loss_fn])), "\n".join(lines)]


def training(spec: Spec) -> list[str]:
    """The tutorial's steps, compiled with ``jax.jit`` over the split model and optimizer."""
    loop = TRAINING.format(epochs=spec.train.epochs, seed=spec.train.seed)
    return [STEPS, loop.replace("{predicted}", ACCURACY[spec.train.loss])]


STEPS = """\
graphdef, state = nnx.split((model, optimizer))  # the jitted steps carry the state


@jax.jit
def train_step(state, x, y):
    model, optimizer = nnx.merge(graphdef, state)
    loss, grads = nnx.value_and_grad(lambda model: loss_fn(model(x), y))(model)
    optimizer.update(model, grads)
    return loss, nnx.state((model, optimizer))


@jax.jit
def eval_step(state, x, y):
    model, _ = nnx.merge(graphdef, state)
    model.eval()  # dropout off, batchnorm's running statistics
    yhat = model(x)
    return loss_fn(yhat, y), yhat"""

TRAINING = """\
# Training: a loop over the compiled steps
n_epochs = {epochs}
rng = np.random.default_rng({seed})  # the spec's training seed: sampling and flips
for epoch in range(1, n_epochs + 1):
    batch_losses = []
    for x, y in training_batches(rng):
        loss, state = train_step(state, x, y)
        batch_losses.append(float(loss))
    val_losses, n_correct = [], 0
    for x, y in val_data:
        loss, yhat = eval_step(state, x, y)
        val_losses.append(float(loss))
        n_correct += int(({{predicted}} == y).sum())
    print(f"epoch {{epoch}}: loss {{np.mean(batch_losses):.4f}}, val_loss {{np.mean(val_losses):.4f}}, "
          f"{{n_correct / len(y_val):.1%}}")
nnx.update((model, optimizer), state)"""

ACCURACY = {  # the predicted classes, from yhat, to compare with y
    "bce": "(yhat > 0.5)",
    "bce_logits": "(yhat > 0)",
    "cross_entropy": "yhat.argmax(axis=1)",
    "cross_entropy_probs": "yhat.argmax(axis=1)",
    "nll": "yhat.argmax(axis=1)",
}

ACRONYMS = {"cnn", "fc", "mnist", "nll", "bce"}


def _class_name(name: str) -> str:
    """The model's class: ``simple_cnn`` is ``SimpleCNN``."""
    parts = re.findall(r"[A-Za-z]+|[0-9]+", name)
    joined = "".join(part.upper() if part.lower() in ACRONYMS else part.capitalize() for part in parts)
    return joined if joined[:1].isalpha() else f"Model{joined}"


def _splits(spec: Spec) -> tuple[str, ...]:
    return ("train", "val", "test") if spec.data.has_test_split else ("train", "val")
