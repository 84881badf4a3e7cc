"""--data: the specs' real loaders on the user's files (small ones, written here), through
``run.py`` called in this process."""

import json

import numpy as np
import pytest
from conftest import run_here
from PIL import Image
from test_loaders import _write_cifar


def _train(tmp_path, *args):
    out = tmp_path / "run"
    done = run_here(*args, "--epochs", "1", "--quiet", "--out", str(out))
    metrics = json.loads((out / "metrics.json").read_text()) if done.returncode == 0 else None
    return done, metrics


@pytest.fixture
def mnist(tmp_path):
    """A keras-format mnist.npz with 10 x 12 images: any H x W is allowed."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (50, 10, 12), dtype=np.uint8),
        y_train=np.arange(50) % 10,
        x_test=rng.integers(0, 256, (20, 10, 12), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    return path


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_mnist_npz_train_and_test_become_the_splits(tmp_path, mnist, backend):
    done, metrics = _train(tmp_path, "--backend", backend, "--model", "mnist_cnn", "--data", str(mnist))
    assert done.returncode == 0, done.stderr
    assert metrics["classes"] == [str(d) for d in range(10)]  # units: classes -> 10 on MNIST
    assert [total for _, total in metrics["per_class"]] == [2] * 10  # the 20 test images, not a split
    assert "per class (correct/total): 0:" in done.stdout


def test_a_shape_that_cannot_work_is_reported_at_its_layer(tmp_path, mnist):
    done, _ = _train(tmp_path, "--model", "lenet", "--data", str(mnist))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        "lenet.yaml:" in done.stderr
        and "layer 'S4' (maxpool2d) has a window of 2, larger than its input" in done.stderr
    )


def test_image_folder_is_resized_and_split(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "photos"
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    done, metrics = _train(tmp_path, "--model", "lenet_lazy", "--data", str(root))
    assert done.returncode == 0, done.stderr
    assert metrics["classes"] == ["cats", "dogs"]
    assert sum(total for _, total in metrics["per_class"]) == 4  # 20 images, 80/20


def test_cifar_airplanes_and_birds(tmp_path):
    folder = _write_cifar(tmp_path, per_batch=20, n_test=30)
    done, metrics = _train(tmp_path, "--backend", "keras", "--model", "fc_tanh", "--data", str(folder))
    assert done.returncode == 0, done.stderr
    assert metrics["classes"] == ["airplane", "bird"]
    labels = [(k % 10) for k in range(30)]
    assert [total for _, total in metrics["per_class"]] == [labels.count(0), labels.count(2)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "mnist_cnn", "--data", "missing.npz"], "MNIST file"),
        (["--model", "cnn2", "--data", "no_such_folder"], "image folder"),
        (["--model", "fc_tanh", "--data", "nowhere"], "CIFAR-10 folder"),
        (["--model", "relu", "--data", "x.npz"], "relu names no data.source"),
    ],
)
def test_missing_data_says_how_to_supply_it(tmp_path, args, message):
    done, _ = _train(tmp_path, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
