"""``run.py show --backend lightning``: a spec as the PyTorch Lightning source of the course's slides.

The slides' Lightning: ``class LitModel(pl.LightningModule)`` with ``training_step``,
``validation_step``, ``test_step`` and ``configure_optimizers``, then
``pl.Trainer(max_epochs=...).fit(model, train_loader, val_loader)`` and ``trainer.test``.
Like every listing it is a whole program, run from any folder, that imports its framework
and never twinspec. What is plain PyTorch - the data, the ``Dataset`` and ``DataLoader``s,
each layer's ``nn`` module, the loss and the optimizer call - is torch's: the data sections
are torch's listing's, re-exported, and the model's calls come from ``torch_impl/calls.py``,
so that the two listings differ exactly where the frameworks do. It runs the book's run:
the same seeds, so the same initial weights, draws and losses as the Lightning column in
``nchw`` (``tests/test_listings.py``).

Sections, in the listing's order (the same as torch's): header, imports, data, input
pipeline, model (the ``LightningModule``, with the loss and optimizer in it), training,
results. Nothing here imports torch or Lightning: a listing is text, and its line
``n_epochs = N`` is the one place that sets the epoch count.
"""

from __future__ import annotations

from common.calls import call, names
from common.present import listing_data
from common.present.source import Code, definitions, join_sections, literal, render, styled
from common.present.source import header as listing_header
from lightning_impl.calls import gradient_clipping
from spec.schema import Spec
from torch_impl.calls import LOSSES, module_calls, optimizer_call, reinit, scheduler_call
from torch_impl.listing import ACCURACY, CLASSIFYING, SEMANTICS, data, pipeline  # noqa: F401  (torch's, re-exported)
from torch_impl import listing as torch_listing
from torch_impl.listing import imports as torch_imports

FRAMEWORK = "PyTorch Lightning, in the style of the course's slides"

__all__ = ["listing", "header", "imports", "data", "pipeline", "model", "loss_and_optimizer", "training", "results"]


def listing(spec: Spec, style: str | None = None) -> str:
    """The whole listing: one program that trains ``spec``, run from any folder; ``style``,
    how it writes the model (``source.STYLES``; None: as its column builds it)."""
    model_section = styled("lightning", style, {"sequential": model, "module": _net_model})
    return join_sections(spec, header, imports, data, pipeline, model_section, loss_and_optimizer, training, results)


# -- sections, in the listing's order ---------------------------------------------------


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    """torch's imports, and ``pytorch_lightning as pl`` in its alphabetical place."""
    lines = torch_imports(spec).split("\n")
    at = lines.index("import torch")
    return "\n".join([*lines[:at], "import pytorch_lightning as pl", *lines[at:]])


def model(spec: Spec) -> list[str]:
    """``LitModel``: the book's ``nn.Sequential`` built in ``__init__``, its loss, its steps."""
    layers = [render("", made, indent=8) for made in module_calls(spec.model, "self.model")]
    return _lit_model(spec, "\n".join(["        self.model = nn.Sequential()", *layers]), [])


def _net_model(spec: Spec) -> list[str]:
    """``--style module``: ``LitModel`` around torch's ``class Net(nn.Module)``."""
    return _lit_model(spec, "        self.model = Net()", [torch_listing._net_class(spec)])


def _lit_model(spec: Spec, building: str, classes: list[str]) -> list[str]:
    """``LitModel``, its ``self.model`` made by ``building`` (after ``classes``), then what
    runs after the build: Keras' initial weights drawn again, weights set by hand, frozen layers."""
    loss_fn = LOSSES[spec.train.loss]
    lit_model = LIT_MODEL.format(
        model=building,
        loss=render("", loss_fn),
        predicted=ACCURACY[spec.train.loss],
        optimizer=_optimizers(spec),
        plateau=PLATEAU if spec.train.scheduler and spec.train.scheduler.watches_loss else "",
    )
    again = reinit(spec.model, "model.model")
    seeded = f"# Model: seeded just before it is built, as in the book\ntorch.manual_seed({spec.model.seed})"
    helpers = definitions(SEMANTICS, names([loss_fn, *again]))  # what torch lacks: the very code that runs
    blocks = [*helpers, *classes, lit_model, "\n".join([seeded, "model = LitModel()"])]
    blocks += [*torch_listing._dry_run(spec, "model"), *torch_listing._redrawn(spec, "model.model")]
    return [*blocks, *torch_listing._set_by_hand(spec, "model.model")]


def _optimizers(spec: Spec) -> str:
    """``configure_optimizers``' body: the optimizer, and the scheduler with the interval the
    Trainer steps it at (a batch scheduler's ``step``, the others' ``epoch``)."""
    optimizer = optimizer_call(spec.train, call("self.parameters"))
    scheduler = spec.train.scheduler
    if scheduler is None:
        return render("return ", optimizer, indent=8)
    made = scheduler_call(scheduler, spec.train.epochs, 0)
    config = {"scheduler": Code("scheduler"), "interval": "step" if scheduler.per_step else "epoch"}
    if scheduler.watches_loss:
        config["monitor"] = "val_loss"
    returned = call("dict", optimizer=Code("optimizer"), lr_scheduler=call("dict", **config))
    lines = [render("optimizer = ", optimizer, indent=8), render("scheduler = ", made, indent=8)]
    return "\n".join([*lines, render("return ", returned, indent=8)])


def loss_and_optimizer(spec: Spec) -> list[str]:
    """Nothing of its own: Lightning's loss and optimizer are ``LitModel``'s (see :func:`model`)."""
    return []


def training(spec: Spec) -> list[str]:
    """``seed_everything`` (the book's ``set_seed``), then ``Trainer.fit`` and ``Trainer.test``."""
    seed = spec.train.seed
    seeding = [f"pl.seed_everything({seed}, verbose=False)  # the book's set_seed({seed})"]
    if spec.data.sampler == "balanced":
        seeding.append(f"generator.manual_seed({seed})  # which reseeds the sampler's generator too")
    clipping = "".join(f"    {key}={literal(value)},\n" for key, value in gradient_clipping(spec.train.clip).items())
    training = TRAINING.format(epochs=spec.train.epochs, seeding="\n".join(seeding), clipping=clipping)
    return [training, TESTING] if spec.data.has_test_split else [training]


def results(spec: Spec) -> list[str]:
    """torch's, with Lightning's checkpoint: the model saved, the losses plotted, one
    validation image classified."""
    saving = [
        "# LitModel.load_from_checkpoint(path) reads it back",
        f'trainer.save_checkpoint("{listing_data.saved_as(spec, "lightning", ".ckpt")}")',
        "losses, val_losses = model.losses, model.val_losses",
    ]
    predicted = ACCURACY[spec.train.loss].replace("yhat", "model(x)")
    return listing_data.results(spec, "lightning", saving, [CLASSIFYING.format(predicted=predicted)])


LIT_MODEL = '''\
class LitModel(pl.LightningModule):
    """The book's model, loss and optimizer; the Trainer runs the loop."""

    def __init__(self):
        super().__init__()
{model}
        self.loss_fn = {loss}
        self.losses, self.val_losses = [], []

    def forward(self, x):
        return self.model(x)

    def on_train_epoch_start(self):
        self.batch_losses = []

    def training_step(self, batch, batch_idx):
        x_batch, y_batch = batch
        loss = self.loss_fn(self(x_batch), y_batch)
        self.batch_losses.append(loss.item())
        return loss  # the Trainer runs backward, step and zero_grad

    def on_validation_epoch_start(self):
        self.val_batch_losses, self.n_correct = [], 0

    def validation_step(self, batch, batch_idx):  # in eval mode, without gradients
        x_batch, y_batch = batch
        yhat = self(x_batch)
        self.val_batch_losses.append(self.loss_fn(yhat, y_batch).item())
        self.n_correct += ({predicted} == y_batch).sum().item()

    def on_train_epoch_end(self):  # the epoch's validation has run by now
        # the book's epoch losses: plain means of the batch losses (self.log would weigh
        # batches by their size)
        self.losses.append(np.mean(self.batch_losses))
        self.val_losses.append(np.mean(self.val_batch_losses))
        print(
            f"epoch {{self.current_epoch + 1}}/{{n_epochs}}  loss {{self.losses[-1]:.4f}}  "
            f"val_loss {{self.val_losses[-1]:.4f}}  val_acc {{self.n_correct / len(val_set):.2%}}"
        )
{plateau}
    def on_test_epoch_start(self):
        self.test_batch_losses, self.n_test_correct, self.n_tested = [], 0, 0

    def test_step(self, batch, batch_idx):  # trainer.test: in eval mode, without gradients
        x_batch, y_batch = batch
        yhat = self(x_batch)
        self.test_batch_losses.append(self.loss_fn(yhat, y_batch).item())
        self.n_test_correct += ({predicted} == y_batch).sum().item()
        self.n_tested += len(y_batch)

    def on_test_epoch_end(self):  # the book's figures (self.log in a step would weigh by size)
        self.log("test_loss", float(np.mean(self.test_batch_losses)))
        self.log("test_acc", self.n_test_correct / self.n_tested)

    def configure_optimizers(self):
{optimizer}'''

PLATEAU = """\
        self.log("val_loss", self.val_losses[-1])  # what ReduceLROnPlateau monitors

    def lr_scheduler_step(self, scheduler, metric):
        scheduler.step(self.val_losses[-1])  # the book's float64 loss (self.log keeps float32)
"""

TRAINING = """\
# Training: Lightning's loop
n_epochs = {epochs}

{seeding}
trainer = pl.Trainer(
    max_epochs=n_epochs,
    accelerator="cpu",  # the book's run; leave it out to train on a GPU
    num_sanity_val_steps=0,  # the book validates after each epoch, not before the first
    logger=False,  # no lightning_logs/ folder
    enable_checkpointing=False,  # and no checkpoints in it
    enable_progress_bar=False,  # one line per epoch instead, from on_train_epoch_end
{clipping})
trainer.fit(model, train_loader, val_loader)"""

TESTING = """\
# Test: once, after training
trainer.test(model, test_loader)"""
