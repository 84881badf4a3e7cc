"""Lockstep: from the same initial weights and the same batches, both frameworks follow the
same training trajectory, and with the book's seeds both replay the book's own run."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import pytest
from conftest import run_python
from test_torch_book import BOOK

from common.parity.stats import LOCKSTEP_LOSS_TOLERANCE, LOCKSTEP_WEIGHT_TOLERANCE, lockstep_parity
from common.runs.store import RunResult
from keras_impl import runner as keras_runner
from keras_impl.runner import train_spec as keras_train
from common.parity.checks import check_lockstep
from spec import TwinspecError, list_specs, load_spec, resolve_spec
from torch_impl import runner as torch_runner
from torch_impl.runner import train_spec as torch_train

ZOO = Path(__file__).parent / "specs" / "lockstep_zoo.yaml"
CHANNELS_FIRST = Path(__file__).parent / "specs" / "channels_first.yaml"
# LeNet at lr 0.1 escapes its plateau chaotically: torch against itself, one ulp apart,
# parts within a few epochs (test_lenet_is_chaotic_not_drifting). Its lockstep horizon:
LENET_HORIZON = 3
# The slides' CNN (Adam with Keras' eps 1e-7, Keras' init) is sensitive too: over its five
# epochs torch parts from itself by 1.4e-2 (relative loss) from weights one ulp apart,
# and from Keras by 6.5e-5, with weights 1.2e-4 apart; over two epochs they agree within
# 1.2e-5 and 3.5e-6.
SLIDES_HORIZON = 2
SENSITIVE = ("lenet", "mnist_cnn_slides")
LAYOUT = {torch_runner: "nchw", keras_runner: "nhwc"}


STEADY = [spec for spec in list_specs() if not spec.model.dropout_layers and spec.name not in SENSITIVE]
STEADY += [load_spec(ZOO), load_spec(CHANNELS_FIRST)]


@cache
def _runs(path: Path, layout: str, epochs: int | None = None) -> tuple[RunResult, RunResult]:
    spec = load_spec(path).with_overrides(epochs=epochs)
    return torch_train(spec, layout, "lockstep"), keras_train(spec, layout, "lockstep")


def test_every_spec_without_dropout_is_covered():
    covered = {spec.name for spec in STEADY} | set(SENSITIVE)
    assert covered >= {spec.name for spec in list_specs() if not spec.model.dropout_layers}
    assert {"cnn2"} == {spec.name for spec in list_specs() if spec.model.dropout_layers}


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("spec", STEADY, ids=lambda spec: spec.name)
def test_both_frameworks_follow_the_same_trajectory(spec, layout):
    torch_run, keras_run = _runs(spec.path, layout)
    parity = lockstep_parity(torch_run, keras_run)
    assert (torch_run.mode, keras_run.mode, torch_run.layout) == ("lockstep", "lockstep", layout)
    assert parity.max_rel_loss_diff <= LOCKSTEP_LOSS_TOLERANCE, (torch_run.train_loss, keras_run.train_loss)
    assert parity.max_abs_weight_diff <= LOCKSTEP_WEIGHT_TOLERANCE
    assert parity.per_class_equal, (torch_run.per_class, keras_run.per_class)
    assert parity.passed


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_lenet_follows_within_its_horizon(layout):
    torch_run, keras_run = _runs(resolve_spec("lenet"), layout, LENET_HORIZON)
    assert lockstep_parity(torch_run, keras_run).passed


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_the_slides_cnn_follows_within_its_horizon(layout):
    torch_run, keras_run = _runs(resolve_spec("mnist_cnn_slides"), layout, SLIDES_HORIZON)
    assert lockstep_parity(torch_run, keras_run).passed


def test_lenet_is_chaotic_not_drifting():
    """Over all its epochs LeNet parts, and so does torch from weights one ulp off: the run
    is beyond float32's horizon, which is what the check reports, not a port difference."""
    parity = check_lockstep(load_spec(resolve_spec("lenet")), "nchw", ["keras"])["keras"]
    assert not parity.passed
    assert parity.chaotic and parity.noise_floor > 100 * LOCKSTEP_LOSS_TOLERANCE


def test_a_real_difference_fails_and_is_not_called_chaos():
    """A 1% larger learning rate in keras: lockstep sees it, at once; at the spec's rate the
    same ten epochs agree."""
    spec = load_spec(resolve_spec("relu")).with_overrides(epochs=10)
    optimizer = {**spec.train.optimizer_params, "lr": spec.train.optimizer_params["lr"] * 1.01}
    faster = dataclasses.replace(spec, train=dataclasses.replace(spec.train, optimizer_params=optimizer))
    parity = lockstep_parity(torch_train(spec, "nchw", "lockstep"), keras_train(faster, "nchw", "lockstep"))
    assert parity.max_rel_loss_diff > 10 * LOCKSTEP_LOSS_TOLERANCE and not parity.passed
    assert lockstep_parity(*_runs(resolve_spec("relu"), "nchw", 10)).passed


@pytest.mark.parametrize("name", ["logistic", "deepish", "relu", "cnn1"])
def test_torch_lockstep_is_torch_native(name):
    """With the book's seeds, the plan is the book's own batches and flips, and common's
    initial weights are torch's: lockstep and native torch are one run, bit for bit."""
    spec = load_spec(resolve_spec(name))
    native = torch_train(spec, "nchw")
    lockstep, _ = _runs(spec.path, "nchw")
    assert lockstep.train_loss == native.train_loss and lockstep.val_loss == native.val_loss
    assert lockstep.per_class == native.per_class


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("name", BOOK)
def test_keras_replays_the_book(name, layout):
    _, keras_run = _runs(resolve_spec(name), layout)
    per_class, loss, val_loss = BOOK[name]
    assert keras_run.per_class == per_class
    assert keras_run.train_loss[-1] == pytest.approx(loss, rel=LOCKSTEP_LOSS_TOLERANCE)
    assert keras_run.val_loss[-1] == pytest.approx(val_loss, rel=LOCKSTEP_LOSS_TOLERANCE)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_keras_replays_the_counts_chapter_5_prints(layout):
    _, keras_run = _runs(resolve_spec("cnn1"), layout)
    assert keras_run.per_class == [[59, 67], [55, 62], [71, 71]]


def test_a_nan_loss_fails_lockstep():
    torch_run, keras_run = _runs(resolve_spec("relu"), "nchw", 10)
    broken = dataclasses.replace(
        keras_run, train_loss=[keras_run.train_loss[0], float("nan"), *keras_run.train_loss[2:]]
    )
    assert not lockstep_parity(torch_run, broken).passed


@pytest.mark.parametrize("runner", [torch_runner, keras_runner], ids=["torch", "keras"])
def test_set_seed_rewinds_the_plan_as_native_redraws(runner):
    """The book reseeds at every train(); a plan is what it draws after that, so a second
    train(n, seed) replays the plan's first epochs again, as native redraws them."""
    spec = load_spec(resolve_spec("relu")).with_overrides(epochs=2)
    runs = {}
    for mode in ("native", "lockstep"):
        trainer = runner.make_trainer(spec, LAYOUT[runner], mode)
        trainer.train(2, seed=spec.train.seed)
        trainer.train(2, seed=spec.train.seed)
        runs[mode] = trainer.losses
    if runner is torch_runner:  # torch's lockstep is torch's native run
        assert runs["lockstep"] == runs["native"]
    with pytest.raises(TwinspecError, match="the batch plan has 2 of its epochs left, not 3"):
        runner.make_trainer(spec, LAYOUT[runner], "lockstep").train(3, seed=spec.train.seed)


def test_lockstep_refuses_dropout_in_one_line(tmp_path):
    done = run_python("run.py", "--model", "cnn2", "--mode", "lockstep", "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "lockstep needs a model without dropout (drop1, drop2)" in done.stderr
    assert not (tmp_path / "run").exists()


def test_lockstep_on_the_command_line(tmp_path):
    out = tmp_path / "run"
    done = run_python(
        "run.py", "--backend", "keras", "--model", "relu", "--mode", "lockstep", "--quiet", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "keras relu (lockstep, nhwc)" in done.stdout
    assert "per class (correct/total): parallel: 24/24  diagonal: 36/36" in done.stdout
