"""Every listing is a program of its own, as a student takes it home: run by a bare Python
(``-I``: no twinspec on its path, no user site) in an empty folder, it makes its data,
trains and writes its model and its loss figure there; and it trains its column's run, epoch
for epoch, to the last bit. Its data section reads the user's own copy of a real dataset
as the column reads it.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ELSEWHERE, SESSION
from PIL import Image
from test_loaders import _write_cifar

from common import columns
from common.data.loaders import load_cifar10, load_image_folder, load_mnist_npz
from common.present.source import join_blocks
from common.runs import runner
from spec import list_specs, load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = {spec.name: spec for spec in list_specs()}
SPECS.update({path.stem: load_spec(path) for path in sorted((ROOT / "tests" / "specs").glob("*.yaml"))})
# What a listing may import: its framework family's packages, numpy, matplotlib and the
# standard library's few. Never twinspec's packages.
ALLOWED = {"math", "os", "pathlib", "pickle", "numpy", "matplotlib"}
FAMILY = {
    "torch": {"torch", "torchvision"},
    "tensorflow": {"tensorflow", "keras"},
    "jax": {"jax", "flax", "optax", "PIL"},
    "keras-jax": {"keras", "PIL"},  # Keras on JAX: KERAS_BACKEND set, no TensorFlow
    "keras-torch": {"keras", "PIL"},
}
SAVED = {
    "torch": ".pt",
    "lightning": ".ckpt",
    "keras": ".keras",
    "tf": ".ckpt.index",
    "jax": ".msgpack",
    "keras-jax": ".keras",
    "keras-torch": ".keras",
}  # <spec>_<column>
# Tiny specs that together take every path of a listing: balanced sampling with flips and
# BCE on probabilities (relu); shuffling with flips, dropout and momentum (dropout_maps);
# normalize: auto, a test split and probabilities (auto_test_split: printed by one listing
# per family, which Keras and Lightning re-export). Each run starts a framework: 5 to 10 s.
RUN_ALONE = [(column, name) for column in SESSION for name in ("relu", "dropout_maps")]  # others: test_keras_backends
RUN_ALONE += [("torch", "auto_test_split"), ("tf", "auto_test_split"), ("jax", "auto_test_split")]
EPOCHS = 2
DUMP = """
import json
with open("losses.json", "w") as file:
    json.dump({"losses": [float(v) for v in losses], "val_losses": [float(v) for v in val_losses]}, file)
"""


def listing(column: str, spec_name: str) -> str:
    return columns.load(column, "listing").listing(SPECS[spec_name])


def with_epochs(source: str, epochs: int) -> str:
    source, count = re.subn(r"^n_epochs = \d+$", f"n_epochs = {epochs}", source, flags=re.MULTILINE)
    assert count == 1, "a listing sets its epoch count in exactly one line"
    return source


@pytest.mark.parametrize("column", columns.names())
def test_a_listing_imports_its_framework_and_never_twinspec(column):
    family = FAMILY[columns.column(column).family]
    for name in SPECS:
        tree = ast.parse(listing(column, name))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        packages = {module.split(".")[0] for module in imported}
        lightning = {"pytorch_lightning"} if column == "lightning" else set()
        assert packages <= ALLOWED | family | lightning, (name, packages)
        assert "twinspec" not in packages and not packages & {"common", "spec", "run"}


@pytest.mark.parametrize(("column", "spec_name"), RUN_ALONE)
def test_a_listing_run_alone_in_an_empty_folder_is_its_columns_run(column, spec_name, tmp_path):
    """Same data, split, seeds, draws and steps: the same losses, bit for bit."""
    (tmp_path / "listing.py").write_text(with_epochs(listing(column, spec_name), EPOCHS) + DUMP)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "listing.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation image 0: " in done.stdout
    written = {path.name for path in tmp_path.iterdir()}
    made = {f"{spec_name}_{column}{SAVED[column]}", f"{spec_name}_{column}_loss.png"}
    assert {"listing.py", "losses.json", *made} <= written
    listed = json.loads((tmp_path / "losses.json").read_text())
    spec = SPECS[spec_name].with_overrides(epochs=EPOCHS)
    layout = columns.column(column).native_layout
    result = runner.train_spec(column, spec, layout)
    assert listed["losses"] == list(result.train_loss)
    assert listed["val_losses"] == list(result.val_loss)
    assert ("test_loss" in done.stdout) == spec.data.has_test_split


# --- the user's own data, read by the listing's data section ------------------------------


def data_section(column: str, spec_name: str, data: Path) -> dict:
    """Run a listing's imports and data section with ``DATA`` set to ``data``; its namespace."""
    module = columns.load(column, "listing")
    spec = SPECS[spec_name]
    source = join_blocks([module.imports(spec), *module.data(spec)])
    source, count = re.subn(r"^DATA = None$", f"DATA = {str(data)!r}", source, flags=re.MULTILINE)
    assert count == 1
    namespace = {"__name__": "__main__"}
    exec(compile(source, f"<{column} listing of {spec_name}>", "exec"), namespace)  # noqa: S102  (our own listing)
    return namespace


def write_folder(root: Path, size: tuple[int, int]) -> Path:
    """Two classes of PNGs at the spec's size, one in a sub-folder (read as its class's)."""
    rng = np.random.RandomState(7)
    for name, count in (("cats", 5), ("dogs", 6)):
        for i in range(count):
            path = root / name / ("more" if i == 0 else "") / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.randint(0, 256, (*size, 3)).astype(np.uint8)).save(path)
    return root


@pytest.mark.parametrize("column", SESSION)  # run here: Keras on JAX and torch read with the JAX listing's text
def test_a_listing_reads_an_image_folder_as_its_column_does(column, tmp_path):
    """PNGs at the spec's size: torchvision, Keras' utility and TensorFlow's decoder read
    the same pixels as twinspec's loader (resizing is where they part: ``common/data/loaders.py``)."""
    spec = SPECS["cnn2"]
    size = tuple(spec.data.source.params["size"])
    root = write_folder(tmp_path / "pets", size)
    namespace = data_section(column, "cnn2", root)
    images, labels, classes = load_image_folder(root, size, spec.data.source.params["channels"])
    np.testing.assert_array_equal(namespace["images"], images)
    np.testing.assert_array_equal(namespace["labels"], labels)
    assert list(namespace["classes"]) == list(classes) == ["cats", "dogs"]
    assert len(namespace["train_labels"]) + len(namespace["val_labels"]) == len(labels)


@pytest.mark.parametrize("column", ["torch", "tf"])  # the one text every listing prints
def test_a_listing_reads_mnist_and_cifar10_as_the_column_does(column, tmp_path):
    rng = np.random.default_rng(0)
    npz = tmp_path / "mnist.npz"
    parts = {"train": 40, "test": 20}
    arrays = {f"x_{part}": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for part, n in parts.items()}
    np.savez(npz, **arrays, **{f"y_{part}": np.arange(n) % 10 for part, n in parts.items()})
    namespace = data_section(column, "lenet", npz)
    (x, y), (x_test, y_test), _ = load_mnist_npz(npz)
    own_test = namespace["own_test"]
    np.testing.assert_array_equal(namespace["images"], x)
    np.testing.assert_array_equal(namespace["labels"], y)
    np.testing.assert_array_equal(own_test[0], x_test)
    np.testing.assert_array_equal(own_test[1], y_test)

    folder = _write_cifar(tmp_path)
    namespace = data_section(column, "fc_tanh", folder)
    (x, y), (x_test, y_test), classes = load_cifar10(folder, tuple(SPECS["fc_tanh"].data.source.params["classes"]))
    np.testing.assert_array_equal(namespace["images"], x)
    np.testing.assert_array_equal(namespace["labels"], y)
    np.testing.assert_array_equal(namespace["val_images"], x_test)  # two fractions: its test set validates
    assert namespace["classes"] == list(classes) == ["airplane", "bird"]


class _Runs:
    def __reduce__(self):
        return (print, ("a pickle's code ran",))


def test_a_cifar_batch_that_names_code_is_refused_by_the_listing(tmp_path, capsys):
    folder = _write_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Runs()}))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print: not in a CIFAR-10 batch"):
        data_section("torch", "fc_tanh", folder)
    assert "code ran" not in capsys.readouterr().out


@pytest.mark.parametrize("column", ELSEWHERE)
def test_keras_on_another_backend_reads_folders_as_the_jax_listing_and_feeds_fit_numpy(column):
    """The Keras listing on JAX or torch: the backend set before Keras is imported, no
    TensorFlow, a folder read by the JAX listing's Pillow loader, the model sections Keras'."""
    spec = SPECS["cnn2"]
    ours, keras, jax = (columns.load(name, "listing") for name in (column, "keras", "jax"))
    backend = columns.family_environment(columns.column(column).family)["KERAS_BACKEND"]
    imports = ours.imports(spec)
    assert f'os.environ["KERAS_BACKEND"] = "{backend}"' in imports
    assert imports.index("KERAS_BACKEND") < imports.index("import keras") and "tensorflow" not in ours.listing(spec)
    assert ours.data(spec) == jax.data(spec) and "def load_image_folder" in "".join(ours.data(spec))
    assert ours.model(spec) == keras.model(spec) and ours.loss_and_optimizer(spec) == keras.loss_and_optimizer(spec)
    assert "validation_data=(x_val, y_val)," in "".join(ours.training(spec))
