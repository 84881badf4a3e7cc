"""The Lightning column: ``pl.Trainer.fit`` computes the torch column's mathematics, bit for bit.

Lockstep: the same losses and final weights as torch's column, ``==`` and not approximately,
for the specs without dropout. Native: the book's runs (chapter 4's losses and counts, chapter
5's counts), and the global generator in the same state before every forward pass as in
torch's loop, so that no draw of the Trainer's shifts the book's stream. The slides' workflow:
``trainer.test`` gives torch's test figures, fused activations, softmax outputs and
``normalize`` run as torch's, and ``model.ckpt`` loads with Lightning alone. Torch runs on one
thread here, as in ``test_show``: small models on a shared 2-core machine run faster so.
"""

from __future__ import annotations


import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from book_chapter4 import chapter4
from conftest import run_python
from test_torch_book import BOOK

from common.runs.result import RunResult
from common.runs.training import train_run
from lightning_impl import build as lightning_build
from lightning_impl import train as lightning_train
from lightning_impl import weights as lightning_weights
from lightning_impl.semantics import LitModel
from spec import list_specs, load_spec, resolve_spec
from spec.schema import Spec
from torch_impl import train as torch_train
from torch_impl.semantics import inject_round_off
from common.runs import runner


SPECS = Path(__file__).parent / "specs"
FULL = ["logistic", "deepish", "relu", "cnn1"]  # chapters 4 and 5, every epoch
SHORT = {  # the other specs without dropout, shortened: the point is the arithmetic, not the training
    "simple_cnn": 2,
    "lenet": 1,
    "lenet_lazy": 1,
    "mnist_cnn": 1,
    "mnist_cnn_slides": 1,  # fused ReLUs, a softmax output and the loss on probabilities
    "fc_tanh": 1,
    "fc_tanh_nll": 1,
    "cnn1_edges": 2,  # filters set by hand, frozen
    "mnist_cnn_tf_slide": 1,  # normal draws from a generator of their own
    "lockstep_zoo": 3,  # Adam's moments and batchnorm's statistics, colour images, flips
    "channels_first": 1,
}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _spec(name: str, epochs: int | None = None) -> Spec:
    path = SPECS / f"{name}.yaml" if (SPECS / f"{name}.yaml").exists() else resolve_spec(name)
    return load_spec(path).with_overrides(epochs=epochs)


def _assert_same_run(reference: RunResult, run: RunResult) -> None:
    assert run.train_loss == reference.train_loss
    assert run.val_loss == reference.val_loss
    assert run.per_class == reference.per_class
    assert reference.weights.keys() == run.weights.keys()
    for layer, params in reference.weights.items():
        for key, value in params.items():
            assert np.array_equal(run.weights[layer][key], value), (layer, key)


@pytest.mark.parametrize("name", FULL)
def test_lockstep_is_torchs_run_bit_for_bit(name):
    spec = _spec(name)
    reference = runner.train_spec("torch", spec, "nchw", "lockstep")
    run = runner.train_spec("lightning", spec, "nchw", "lockstep")
    assert run.column == "lightning" and run.epochs == spec.train.epochs
    _assert_same_run(reference, run)


@pytest.mark.parametrize("name, epochs", SHORT.items())
def test_lockstep_is_torchs_for_every_spec_without_dropout(name, epochs):
    spec = _spec(name, epochs)
    assert not spec.model.dropout_layers
    layout = "nhwc" if name == "lockstep_zoo" else "nchw"  # the permute at the input, too
    reference = runner.train_spec("torch", spec, layout, "lockstep")
    _assert_same_run(reference, runner.train_spec("lightning", spec, layout, "lockstep"))


def test_every_shipped_spec_without_dropout_is_covered():
    without_dropout = {spec.name for spec in list_specs() if not spec.model.dropout_layers}
    assert without_dropout == set(FULL) | set(SHORT) - {"lockstep_zoo", "channels_first"}


def test_sgd_with_nesterov_momentum_is_torchs_and_survives_a_second_fit(tmp_path):
    """The optimizer is built once: a second ``train`` (one more ``fit``) keeps its momentum."""
    path = tmp_path / "relu_nesterov.yaml"
    text = resolve_spec("relu").read_text()
    assert "{sgd: {lr: 0.1}}" in text
    path.write_text(text.replace("{sgd: {lr: 0.1}}", "{sgd: {lr: 0.05, momentum: 0.9, nesterov: true}}"))
    spec = load_spec(path).with_overrides(epochs=4)
    reference = runner.make_trainer("torch", spec, "nchw")
    reference.train(4, seed=spec.train.seed)
    trainer = runner.make_trainer("lightning", spec, "nchw")
    trainer.train(2, seed=spec.train.seed)
    trainer.train(2, seed=None)
    assert trainer.module.configure_optimizers() is trainer.optimizer
    assert trainer.optimizer.param_groups[0]["nesterov"] and trainer.optimizer.param_groups[0]["momentum"] == 0.9
    assert trainer.losses == reference.losses and trainer.val_losses == reference.val_losses
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), reference.model.parameters()))


@pytest.mark.parametrize(
    "name, epochs",
    [("cnn2_cyclic", 2), ("conv_features", 2), ("dropout_maps", 4)],
    ids=["cyclic", "one_cycle", "plateau"],
)
def test_the_trainer_steps_the_scheduler_as_torchs_loop_bit_for_bit(name, epochs):
    """``configure_optimizers`` hands the Trainer the scheduler, which it steps every batch
    (CyclicLR, OneCycleLR, with SGD's momentum) or every epoch (ReduceLROnPlateau, on the
    book's validation loss): every step's rate and the run are torch's, across two ``fit``s."""
    spec = _spec(name, epochs)
    reference = runner.make_trainer("torch", spec, "nchw")
    reference.train(epochs, seed=spec.train.seed)
    trainer = runner.make_trainer("lightning", spec, "nchw")
    trainer.train(epochs // 2, seed=spec.train.seed)
    trainer.train(epochs - epochs // 2, seed=None)
    assert trainer.module.configure_optimizers()["lr_scheduler"]["scheduler"] is trainer.scheduler
    assert len(set(reference.learning_rates)) > 1
    assert trainer.learning_rates == reference.learning_rates
    assert trainer.losses == reference.losses and trainer.val_losses == reference.val_losses
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), reference.model.parameters()))


@pytest.mark.parametrize("name", BOOK)
def test_native_is_the_books_chapter4_run(name):
    result = runner.train_spec("lightning", _spec(name), "nchw")
    losses, val_losses, counts = chapter4(name)  # the book's own code, transcribed
    assert result.train_loss == [float(v) for v in losses]
    assert result.val_loss == [float(v) for v in val_losses]
    per_class, loss, val_loss = BOOK[name]
    assert result.per_class == counts == per_class
    assert result.train_loss[-1] == pytest.approx(loss, rel=1e-6)
    assert result.val_loss[-1] == pytest.approx(val_loss, rel=1e-6)


def test_native_cnn1_reproduces_the_counts_the_book_prints():
    result = runner.train_spec("lightning", _spec("cnn1"), "nchw")
    assert result.per_class == [[59, 67], [55, 62], [71, 71]]
    assert result.epochs == 20 and result.params == 213


def _fingerprints(trainer) -> list[tuple[bool, str]]:
    """Before every forward pass: train or eval mode, and the global generator's state."""
    log: list[tuple[bool, str]] = []

    def record(module, args) -> None:
        log.append((module.training, hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()))

    trainer.model.register_forward_pre_hook(record)
    return log


@pytest.mark.parametrize("name, epochs", [("relu", 4), ("cnn2", 2), ("cnn1", 2)], ids=["flips", "dropout", "plain"])
def test_native_draws_exactly_what_the_books_loop_draws(name, epochs):
    """Every forward pass in the same mode and with the generator where the book's loop has it:
    the Trainer's iterators draw their base seeds in the book's order and nothing else draws
    (relu: flips; cnn2: dropout masks and shuffling; cnn1: nothing but the base seeds)."""
    spec = _spec(name, epochs)
    runs, logs = {}, {}
    for backend in ("torch", "lightning"):
        trainer = runner.make_trainer(backend, spec, "nchw")
        logs[backend] = _fingerprints(trainer)
        trainer.train(epochs, seed=spec.train.seed)
        runs[backend] = trainer
    assert len(logs["lightning"]) == len(logs["torch"]) > 0
    assert logs["lightning"] == logs["torch"]
    assert runs["lightning"].losses == runs["torch"].losses
    assert runs["lightning"].val_losses == runs["torch"].val_losses
    assert runs["lightning"].val_accuracies == runs["torch"].val_accuracies


def test_the_trainer_has_torchs_api_and_replaces_only_the_loop():
    """torch's trainer, inherited, with only the seeding (``seed_everything``), the loop
    (``Trainer.fit``, which steps the scheduler ``configure_optimizers`` returns) and
    ``evaluate`` (``trainer.test``) its own; ``test_trainer_api`` holds torch's to the other
    columns'."""
    ours, theirs = lightning_train.StepByStep, torch_train.StepByStep
    assert issubclass(ours, theirs)
    assert [name for name in vars(ours) if not name.startswith("_")] == ["column", "evaluate"]
    assert [name for name in vars(ours) if name.startswith("_") and callable(vars(ours)[name])] == [
        "__init__",
        "_seed",
        "_scheduler_set",
        "_advance_scheduler",
        "_train",
        "_book_epoch",
    ]


def test_trainer_test_gives_torchs_test_figures_bit_for_bit(monkeypatch):
    """``evaluate`` is ``trainer.test``: the LitModel's ``test_step`` on every test batch, once,
    and the book's figures from them (plain mean of the batch losses, summed counts), not
    ``self.log``'s batch-size weighted mean, which a short last batch makes another number."""
    spec = _spec("auto_test_split")
    trainers = {name: runner.make_trainer(name, spec, "nchw") for name in ("torch", "lightning")}
    figures, states = {}, {}
    tested = []
    test_step = LitModel.test_step
    monkeypatch.setattr(LitModel, "test_step", lambda self, batch, i: tested.append(i) or test_step(self, batch, i))
    for name, trainer in trainers.items():
        trainer.train(2, seed=spec.train.seed)
        figures[name] = trainer.evaluate(trainer.test_loader)
        states[name] = torch.get_rng_state()
    sizes = [len(y) for _, y in trainers["torch"].test_loader]
    assert tested == list(range(len(sizes))) and len(set(sizes)) == 2  # 18 = 8 + 8 + 2
    (loss, counts), (lightning_loss, lightning_counts) = figures["torch"], figures["lightning"]
    assert lightning_loss == loss and np.array_equal(lightning_counts, counts)
    assert counts[:, 1].sum() == 18 and torch.equal(states["lightning"], states["torch"])
    assert trainers["lightning"].module.test_steps == []  # nothing left for a second call


@pytest.mark.parametrize(
    "name, epochs", [("mnist_cnn_slides", 1), ("auto_test_split", 2)], ids=["fused-softmax-scale", "auto-balanced"]
)
def test_the_workflows_specs_run_as_torchs_bit_for_bit(name, epochs):
    """The slides' spec (fused ReLUs, a softmax output with ``cross_entropy_probs``, ``x / 255``)
    and ``normalize: auto`` with a test split: native runs equal to torch's, test figures too."""
    spec = _spec(name, epochs)
    reference = runner.train_spec("torch", spec, "nchw")
    run = runner.train_spec("lightning", spec, "nchw")
    _assert_same_run(reference, run)
    assert run.test_per_class == reference.test_per_class and run.test_loss == reference.test_loss
    assert run.normalization == reference.normalization and run.test_per_class is not None


def test_step_by_step_takes_the_books_three_arguments():
    from torch_impl.semantics import ProbsNLLLoss

    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Softmax(dim=-1))
    trainer = lightning_train.StepByStep(model, ProbsNLLLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert trainer.loss_kind == trainer.module.loss_kind == "cross_entropy_probs"
    table = trainer.parameter_table()
    assert table == torch_train.StepByStep(model, ProbsNLLLoss(), trainer.optimizer).parameter_table()
    assert table.endswith("total: 9 parameters")


def test_a_diverging_loss_ends_the_run_at_the_epochs_end(tmp_path):
    """``check_finite_losses`` in Lightning's epoch-end hook, as torch's loop calls it: the
    Trainer lets the error through, with the epoch recorded before it, as in torch."""
    from spec.errors import TwinspecError

    text = resolve_spec("cnn1").read_text()
    path = tmp_path / "cnn1_diverges.yaml"
    path.write_text(text.replace("lr: 0.1}", "lr: 1.0e+30}"))
    assert path.read_text() != text
    spec = load_spec(path)
    messages, losses = [], []
    for column in ("torch", "lightning"):
        trainer = runner.make_trainer(column, spec, "nchw")
        with pytest.raises(TwinspecError, match="diverged") as error:
            trainer.train(3, seed=spec.train.seed)
        messages.append(str(error.value))
        losses.append(trainer.losses)
    assert messages[0] == messages[1] and messages[0].startswith("epoch ")
    assert len(losses[0]) == len(losses[1]) >= 1 and str(losses[0]) == str(losses[1])  # nan == nan, as text


@pytest.mark.parametrize("name, kind", [("relu", torch.optim.SGD), ("cnn2", torch.optim.Adam)])
def test_configure_optimizers_returns_the_specs_optimizer_of_either_kind(name, kind):
    spec = _spec(name)
    trainer = lightning_train.StepByStep.from_spec(lightning_build.build_model(spec.model, "nchw"), spec.train)
    assert isinstance(trainer.module, LitModel) and trainer.module.model is trainer.model
    optimizer = trainer.module.configure_optimizers()
    assert type(optimizer) is kind and optimizer is trainer.optimizer
    group, params = optimizer.param_groups[0], spec.train.optimizer_params
    assert all(group[key] == (tuple(value) if key == "betas" else value) for key, value in params.items())
    assert [id(p) for p in group["params"]] == [id(p) for p in trainer.model.parameters()]


def test_an_interrupt_stays_an_interrupt():
    """Lightning turns Ctrl-C into ``sys.exit(1)`` and ignores SIGINT from then on; the column
    puts both back, so that the command line says "interrupted" as for every column."""
    spec = _spec("relu", 3)
    trainer = runner.make_trainer("lightning", spec, "nchw")
    before = signal.getsignal(signal.SIGINT)

    def interrupt(epoch, *_):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.train(3, seed=spec.train.seed, on_epoch=interrupt)
    assert signal.getsignal(signal.SIGINT) is before
    assert trainer.total_epochs == 2 and len(trainer.losses) == 2
    assert trainer.module.batch_losses == [] and trainer.module.val_steps == []


def test_a_run_writes_nothing_into_the_working_folder_and_says_only_the_progress(tmp_path):
    """No lightning_logs/, no checkpoints, no banners, model summary or progress bar: the
    command line's lines, and with --quiet not even the epochs."""
    root = Path(__file__).resolve().parent.parent
    for quiet in (False, True):
        out = tmp_path / f"run{int(quiet)}"
        args = ["--backend", "lightning", "--model", "relu", "--epochs", "2", "--out", str(out)]
        done = run_python(str(root / "run.py"), *args, *(["--quiet"] if quiet else []), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        lines = done.stdout.splitlines()
        assert lines[0].startswith("training relu (") and lines[0].endswith("with lightning, nchw, native, 2 epochs")
        epochs = [line for line in lines if line.startswith("[lightning] epoch ")]
        assert len(epochs) == (0 if quiet else 2)
        assert len(lines) == 1 + len(epochs) + 3 + 1  # the summary's three lines, then "wrote"
        assert lines[-1].startswith(f"wrote {out}/")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run0", "run1"]


def test_a_checkpoint_resumes_under_a_new_trainer_as_if_never_stopped(tmp_path):
    """torch's checkpoint methods, inherited, on a model the Trainer trained: dropout, shuffling,
    Adam's moments. Each ``train`` is a fresh ``fit``; four epochs in one go or 2 + 2 agree."""
    spec = _spec("cnn2", 4)
    whole = runner.make_trainer("lightning", spec, "nchw")
    whole.train(4, seed=spec.train.seed)
    first = runner.make_trainer("lightning", spec, "nchw")
    first.train(2, seed=spec.train.seed)
    first.save_checkpoint(tmp_path / "checkpoint")
    resumed = runner.make_trainer("lightning", spec, "nchw")
    resumed.load_checkpoint(tmp_path / "checkpoint")
    resumed.train(2, seed=None)
    assert resumed.total_epochs == 4
    assert resumed.losses == whole.losses and resumed.val_losses == whole.val_losses
    tracking, _ = resumed.lr_range_test(end_lr=1.0, num_iter=5)  # torch's, after a fit: leaves no trace
    assert len(tracking["loss"]) == 5
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(), whole.model.parameters()))


def test_the_sanity_check_it_turns_off_would_shift_no_draw_but_add_validation_batches(monkeypatch):
    """Why ``num_sanity_val_steps=0``: with Lightning's default (2 batches before the first
    epoch) the generator is put back (``isolate_rng``), so every training forward pass still
    sees the book's stream, but the first epoch's validation gets 2 batches the book never ran."""
    from lightning_impl import train as lightning_train_module

    options = lightning_train_module.trainer_options
    monkeypatch.setattr(
        lightning_train_module, "trainer_options", lambda *a: {**options(*a), "num_sanity_val_steps": 2}
    )
    spec = _spec("relu", 2)
    torch_trainer, trainer = runner.make_trainer("torch", spec, "nchw"), runner.make_trainer("lightning", spec, "nchw")
    logs = [_fingerprints(torch_trainer), _fingerprints(trainer)]
    torch_trainer.train(2, seed=spec.train.seed)
    trainer.train(2, seed=spec.train.seed)
    book, sanity = logs
    assert sanity[:2] != book[:2] and [training for training, _ in sanity[:2]] == [False, False]
    assert sanity[2:] == book  # the generator where the book has it, at every pass after the check
    assert trainer.losses == torch_trainer.losses  # training untouched
    assert trainer.val_losses[0] != torch_trainer.val_losses[0]  # 4 batches + 2 from the check
    assert trainer.val_losses[1] == torch_trainer.val_losses[1]


def test_the_round_off_run_is_torchs_too():
    """The noise-floor run (one ulp at random after every step) under the Trainer: torch's."""
    spec = _spec("relu", 2)
    reference = runner.train_round_off(spec, "nchw", seed=3)
    trainer = runner.make_trainer("lightning", spec, "nchw", "lockstep")
    inject_round_off(trainer, seed=3)
    export = lightning_weights.export_weights
    _assert_same_run(
        reference, train_run(trainer, spec, column="lightning", layout="nchw", mode="lockstep", export=export)
    )


LIGHTNING_LOADS = """\
import sys
import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
{lit_model}
x = torch.as_tensor(np.load(sys.argv[2]))
model = LitModel.load_from_checkpoint(sys.argv[1])  # Lightning's way
model.eval()
sequential = LitModel().model  # torch's alone: the checkpoint's state_dict, into the listing's nn.Sequential
state = torch.load(sys.argv[1], weights_only=True)["state_dict"]
sequential.load_state_dict({{key.removeprefix("model."): value for key, value in state.items()}})
sequential.eval()
with torch.no_grad():
    assert torch.equal(model(x), sequential(x))
    print(model(x).argmax(dim=1).tolist())
assert not {{"spec", "common", "torch_impl", "lightning_impl"}} & {{m.split(".")[0] for m in sys.modules}}
"""


def test_a_fresh_process_loads_the_checkpoint_with_lightning_alone(tmp_path):
    """``model.ckpt`` is ``trainer.save_checkpoint``'s: the listing's ``LitModel.load_from_checkpoint``
    reads it, and so does plain ``torch.load``; both predict the run's classes."""
    import run
    from common.data.prep import normalize
    from common.files.weights import load_weights
    from common.runs.inputs import run_inputs
    from lightning_impl import forward as lightning_forward
    from lightning_impl import listing as lightning_listing

    spec = _spec("auto_test_split")
    out = tmp_path / "run"
    assert run.main(["--backend", "lightning", "--model", str(spec.path), "--out", str(out), "--quiet"]) == 0
    checkpoint = torch.load(out / "model.ckpt", weights_only=True)
    assert checkpoint["pytorch-lightning_version"] and "model.hidden.weight" in checkpoint["state_dict"]
    inputs = run_inputs(spec, "nchw")
    x = normalize(inputs.split.x_val, inputs.data.mean, inputs.data.std)
    expected = lightning_forward.forward(spec.model, "nchw", load_weights(out / "weights.npz", spec.model), x)
    np.save(tmp_path / "x.npy", x)
    listing = lightning_listing.listing(spec)
    lit_model = listing[listing.index("class ProbsNLLLoss") : listing.index("\n\n\n# Model: seeded")]
    (tmp_path / "load.py").write_text(LIGHTNING_LOADS.format(lit_model=lit_model))
    done = run_python(
        str(tmp_path / "load.py"),
        str(out / "model.ckpt"),
        str(tmp_path / "x.npy"),
        cwd=tmp_path,
        env={"PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr
    predicted = json.loads(done.stdout.strip().splitlines()[-1])
    assert predicted == expected.argmax(axis=1).tolist()
    assert len(set(predicted)) == 3  # a model that tells the classes apart, not a constant
