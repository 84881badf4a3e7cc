"""Trained weights move between the frameworks: the other one predicts the same classes."""

from functools import partial
import json

import numpy as np
import pytest
from conftest import run_here

from common.data.datasets import load_dataset
from common.data.prep import normalize, split_dataset
from common.files.weights import load_weights
from common.runs.metrics import predicted_classes
from keras_impl import forward as keras_forward
from spec import load_spec, resolve_spec
from tf_impl import forward as tf_forward
from torch_impl import forward as torch_forward
from common.runs import runner

keras_train = partial(runner.train_spec, "keras")
tf_train = partial(runner.train_spec, "tf")
torch_train = partial(runner.train_spec, "torch")


@pytest.fixture(scope="module")
def cnn2():
    """Its flatten sees 5 channels, so the feature reordering on transfer matters."""
    spec = load_spec(resolve_spec("cnn2"))
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    return spec, normalize(split.x_val, spec.data.mean, spec.data.std)


FORWARD = {"torch": torch_forward, "keras": keras_forward, "tf": tf_forward}


@pytest.mark.parametrize(
    "trained_in, train, other",
    [
        ("torch", torch_train, keras_forward),
        ("keras", keras_train, torch_forward),
        ("torch", torch_train, tf_forward),
        ("tf", tf_train, torch_forward),
    ],
)
def test_a_trained_model_predicts_the_same_classes_in_the_other_framework(cnn2, trained_in, train, other):
    spec, x_val = cnn2
    assert spec.model.layer("flatten").in_shape[0] > 1
    result = train(spec.with_overrides(epochs=3), "nchw" if trained_in == "torch" else "nhwc")
    own = FORWARD[trained_in].forward(spec.model, "nchw", result.weights, x_val)
    for layout in ("nchw", "nhwc"):
        theirs = other.forward(spec.model, layout, result.weights, x_val)
        assert np.array_equal(predicted_classes(theirs, "cross_entropy"), predicted_classes(own, "cross_entropy"))
        assert np.abs(theirs - own).max() < 1e-4
    assert result.val_accuracy > 0.5  # a trained model, not a constant one


def test_export_then_init_from_and_parity_on_the_command_line(tmp_path):
    weights = tmp_path / "init.npz"
    done = run_here("export", "--backend", "keras", "--model", "cnn1", "--weights", str(weights))
    assert done.returncode == 0, done.stderr
    exported = load_weights(weights, load_spec(resolve_spec("cnn1")).model)
    assert exported["conv1"]["weight"].shape == (1, 1, 3, 3) and exported["fc1"]["weight"].shape == (10, 16)

    out = tmp_path / "run"
    done = run_here("--model", "cnn1", "--epochs", "1", "--init-from", str(weights), "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    trained = load_weights(out / "weights.npz", load_spec(resolve_spec("cnn1")).model)
    assert not np.array_equal(trained["fc2"]["weight"], exported["fc2"]["weight"])  # it trained from there

    report = tmp_path / "parity.json"
    done = run_here("parity", "--model", "cnn1", "--check", "forward", "--json", str(report))
    assert done.returncode == 0, done.stderr
    assert "torch-nchw vs keras-nhwc" in done.stdout and "PASSED" in done.stdout
    figures = json.loads(report.read_text())
    assert figures["model"] == "cnn1" and figures["passed"] is True
    combinations = 2 * len(figures["columns"]) + 2  # every column and the reference, in two layouts
    assert figures["forward"]["max_abs_diff"] <= 1e-5
    assert len(figures["forward"]["pairs"]) == combinations * (combinations - 1) // 2


def test_tf_exports_its_own_init_and_trains_from_any_columns(tmp_path):
    """``export --backend tf`` writes the tf column's seeded draws (not torch's); ``train
    --backend tf --init-from`` starts from a file, here torch's."""
    spec = load_spec(resolve_spec("cnn1"))
    for backend in ("tf", "torch"):
        done = run_here(
            "export", "--backend", backend, "--model", "cnn1", "--weights", str(tmp_path / f"{backend}.npz")
        )
        assert done.returncode == 0, done.stderr
    ours, torchs = (load_weights(tmp_path / f"{backend}.npz", spec.model) for backend in ("tf", "torch"))
    assert ours["conv1"]["weight"].shape == (1, 1, 3, 3) and not np.array_equal(
        ours["fc1"]["weight"], torchs["fc1"]["weight"]
    )
    out = tmp_path / "run"
    train = ["--backend", "tf", "--model", "cnn1", "--epochs", "1", "--init-from", str(tmp_path / "torch.npz")]
    done = run_here(*train, "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "tf cnn1 (native, nhwc)" in done.stdout
    first = json.loads((out / "metrics.json").read_text())["train_loss"][0]
    from_torch = tf_train(spec.with_overrides(epochs=1), "nhwc", init=torchs)
    assert first == from_torch.train_loss[0]  # the file's weights, not the column's own


def test_weights_that_do_not_fit_are_refused(tmp_path):
    weights = tmp_path / "relu.npz"
    assert run_here("export", "--model", "relu", "--weights", str(weights)).returncode == 0
    done = run_here("--model", "cnn1", "--init-from", str(weights), "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "do not match the spec" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    done = run_here("--model", "cnn1", "--init-from", str(tmp_path / "missing.npz"))
    assert done.returncode == 2 and "no weights file" in done.stderr
    np.save(tmp_path / "one.npy", np.zeros(3))
    done = run_here("--model", "cnn1", "--init-from", str(tmp_path / "one.npy"))
    assert done.returncode == 2 and "holds one array" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["export", "--weights"], ["parity", "--json"]])
def test_an_output_file_that_cannot_be_written_is_refused_up_front(tmp_path, command):
    done = run_here(command[0], "--model", "relu", command[1], str(tmp_path / "nowhere" / "f"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"directory {tmp_path / 'nowhere'} does not exist" in done.stderr
    done = run_here(command[0], "--model", "relu", command[1], str(tmp_path))
    assert done.returncode == 2 and "it is a directory" in done.stderr
