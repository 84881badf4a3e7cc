"""``run.py show``: the generated listings are valid Python that builds and trains the spec's model.

Each listing runs for real, in this process: ``exec`` in a fresh ``__main__`` namespace, in
an empty folder (it writes its model and plot there), with its one ``n_epochs = N`` line set
to 1 (or to 0, to look at the initial weights). Torch runs on one thread here: small
convolutions on a shared 2-core machine run about ten times faster so. That a listing runs
alone, as a student runs it, is ``tests/test_listings.py``'s.
"""

from __future__ import annotations

from functools import partial

import ast
import dataclasses
import linecache
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SESSION

from common import columns
from common.present.source import definition
from keras_impl import build as keras_build
from keras_impl import listing as keras_listing
from spec import TwinspecError, list_specs, load_spec
from spec.schema import Spec
from tf_impl import build as tf_build
from tf_impl import listing as tf_listing
from torch_impl import build as torch_build
from torch_impl import listing as torch_listing
from common.runs import runner

tf_train_spec = partial(runner.train_spec, "tf")
train_spec = partial(runner.train_spec, "torch")

ROOT = Path(__file__).resolve().parent.parent
LISTINGS = {name: columns.load(name, "listing") for name in columns.names()}
# The listings run here, in the test session's process; Keras on JAX and torch set their
# backend and run in a fresh interpreter of their own (tests/test_listings.py).
RUN_HERE = SESSION
# Every shipped spec, and the test specs (given by path), which use every layer kind.
SPECS = {spec.name: spec for spec in list_specs()}
SPECS.update({path.stem: load_spec(path) for path in sorted((ROOT / "tests" / "specs").glob("*.yaml"))})


@pytest.fixture(autouse=True)
def _in_an_empty_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Listings write their model and ``loss.png`` where they run; their figure stays open
    in pyplot's list, as a script's does, until closed here."""
    monkeypatch.chdir(tmp_path)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_listing(source: str, epochs: int) -> dict:
    """Run a listing with its epoch count replaced (with none, up to its results: there are
    none to show); its namespace afterwards."""
    ast.parse(source)  # valid Python, before anything runs
    if epochs == 0:
        source = source[: source.index("\n# Results: ")]
    source, count = re.subn(r"^n_epochs = \d+$", f"n_epochs = {epochs}", source, flags=re.MULTILINE)
    assert count == 1, "a listing sets its epoch count in exactly one line"
    namespace = {"__name__": "__main__"}
    linecache.cache["<listing>"] = (len(source), None, source.splitlines(True), "<listing>")  # for autograph
    exec(compile(source, "<listing>", "exec"), namespace)
    return namespace


def _torch_family(backend: str) -> bool:
    return columns.column(backend).family == "torch"


def weights(backend: str, model) -> list[np.ndarray]:
    """A torch model's (or a LightningModule's: its state is its nn.Sequential's), Keras', TensorFlow's, Flax's."""
    if columns.column(backend).family == "jax":
        from flax import nnx

        return [np.asarray(value[...]) for _, value in nnx.to_flat_state(nnx.state(model, nnx.Param))]
    if _torch_family(backend):
        return [tensor.detach().numpy().copy() for tensor in model.state_dict().values()]
    if backend == "tf":  # by name: a tf.Module lists its variables in its attributes' order
        return [variable.numpy() for variable in sorted(model.variables, key=lambda variable: variable.name)]
    return [np.asarray(w) for w in model.get_weights()]


def fresh_weights(backend: str, spec: Spec) -> list[np.ndarray]:
    """The backend's own seeded build, in the layout its listing uses (Lightning's is torch's)."""
    if _torch_family(backend):
        return weights(backend, torch_build.build_model(spec.model, "nchw"))
    if backend == "tf":
        return weights(backend, tf_build.build_model(spec.model, "nhwc"))
    if backend == "jax":
        return weights(backend, columns.load("jax", "build").build_model(spec.model, "nhwc"))
    return weights(backend, keras_build.build_model(spec.model, "nhwc"))


def count_parameters(backend: str, model, optimizer) -> int:
    if _torch_family(backend):
        return torch_build.count_parameters(model)
    if backend == "tf":
        return int(sum(math.prod(variable.shape) for variable in model.trainable_variables))
    if backend == "jax":  # what the listing's optimizer moves: every nnx.Param but a frozen layer's
        import jax
        from flax import nnx

        return int(sum(math.prod(p.shape) for p in jax.tree.leaves(nnx.state(model, optimizer.wrt))))
    return keras_build.count_parameters(model)


def first_losses(backend: str, namespace: dict) -> list[float]:
    return list(namespace["losses"])  # every listing's results section names them so


# The next test holds every spec's first epoch to the column's, bit for bit, which it cannot
# be from other initial weights; this one says where they differ, on the specs with every
# layer kind, every convolution, channels-first layers, Keras' initialisation and lazy sizes.
INITIAL = ["every_layer", "conv_features", "channels_first", "mnist_cnn_slides", "lenet_lazy"]


@pytest.mark.parametrize("backend", RUN_HERE)
@pytest.mark.parametrize("name", INITIAL)
def test_listing_starts_from_the_backends_initial_weights(backend, name):
    """With no epochs, the listing's model is the backend's build, weight for weight (without
    a scheduler: conv_features' one_cycle cannot run over no steps)."""
    spec = dataclasses.replace(SPECS[name], train=dataclasses.replace(SPECS[name].train, scheduler=None))
    namespace = run_listing(LISTINGS[backend].listing(spec), epochs=0)
    ours, theirs = weights(backend, namespace["model"]), fresh_weights(backend, spec)
    assert len(ours) == len(theirs)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


@pytest.mark.parametrize("backend", RUN_HERE)
@pytest.mark.parametrize("name", SPECS)
def test_listing_trains_the_specs_model_as_its_column_does(backend, name):
    spec = SPECS[name]
    source = LISTINGS[backend].listing(spec)
    path = spec.path.relative_to(ROOT).as_posix()
    assert source.startswith(f"# {spec.name}: {spec.title}\n")
    assert f"generated by twinspec from {path}; it runs from any folder" in source
    namespace = run_listing(source, epochs=1)
    model = namespace["model"]
    assert count_parameters(backend, model, namespace.get("optimizer")) == torch_build.count_parameters(
        torch_build.build_model(spec.model, "nchw")
    )
    # it started from the fresh build (the test above), so a difference is training's
    assert any(not np.array_equal(a, b) for a, b in zip(weights(backend, model), fresh_weights(backend, spec)))
    # and it is the column's run, to the last bit (tests/test_listings.py: run alone, as a student runs it)
    layout = "nchw" if _torch_family(backend) else "nhwc"
    result = runner.train_spec(backend, spec.with_overrides(epochs=1), layout)
    assert [float(v) for v in first_losses(backend, namespace)] == list(result.train_loss)
    assert [float(v) for v in namespace["val_losses"]] == list(result.val_loss)


@pytest.mark.parametrize("backend", ["torch", "lightning"])
@pytest.mark.parametrize("name", ["every_layer", "cnn1_edges"])
def test_a_module_style_listing_trains_as_the_column_does(backend, name):
    """``--style module``: ``class Net(nn.Module)``, its modules made in the build's order (so
    drawing the same initial weights) and applied in ``forward``; every layer kind, fused
    activations, and weights set by hand after the build."""
    spec = SPECS[name]
    source = LISTINGS[backend].listing(spec, "module")
    assert "class Net(nn.Module):" in source and "    def forward(self, x):" in source
    assert "nn.Sequential" not in source and "class Net" not in LISTINGS[backend].listing(spec)
    namespace = run_listing(source, epochs=1)
    result = runner.train_spec(backend, spec.with_overrides(epochs=1), "nchw")
    assert [float(v) for v in first_losses(backend, namespace)] == list(result.train_loss)
    assert [float(v) for v in namespace["val_losses"]] == list(result.val_loss)


@pytest.mark.parametrize("backend", ["keras", "tf"])
def test_a_style_the_column_does_not_write_is_refused(backend):
    other = {"keras": "module", "tf": "sequential"}[backend]
    with pytest.raises(TwinspecError, match=f"--style {other}: the {backend} listing writes its model as"):
        LISTINGS[backend].listing(SPECS["cnn1"], other)


def test_the_tensorflow_family_listings_print_the_columns_own_pipeline():
    """Keras on TensorFlow and TensorFlow alone draw their batches with the column's own
    ``training_batches``, character for character (its tests are ``test_keras_pipeline.py``'s)."""
    pipeline = definition(ROOT / "tf_impl" / "semantics.py", "training_batches")
    for listing in (keras_listing, tf_listing):
        assert pipeline in listing.listing(SPECS["relu"])


@pytest.mark.parametrize("backend", RUN_HERE)
def test_listing_of_a_spec_given_by_path(tmp_path, backend):
    """A spec outside the repository is named by its absolute path; ``init: keras`` on the way."""
    path = tmp_path / "my_cnn.yaml"
    shutil.copy(ROOT / "spec" / "models" / "cnn1.yaml", path)
    path.write_text(path.read_text().replace("  seed: 13\n", "  seed: 13\n  init: keras\n"))
    spec = load_spec(path)
    assert spec.model.init == "keras"
    source = LISTINGS[backend].listing(spec)
    assert f"generated by twinspec from {path}; it runs from any folder" in source
    namespace = run_listing(source, epochs=0)
    ours, theirs = weights(backend, namespace["model"]), fresh_weights(backend, spec)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_a_path_inside_the_repository_is_written_relative_to_its_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    for given in (ROOT / "spec" / "models" / "relu.yaml", Path("spec/models/relu.yaml")):
        for listing in LISTINGS.values():
            assert "generated by twinspec from spec/models/relu.yaml;" in listing.listing(load_spec(given))


@pytest.mark.parametrize("backend", LISTINGS)
def test_listings_are_black_shaped(backend):
    """Lines of at most 100 characters; no trailing spaces; two blank lines around definitions."""
    for spec in SPECS.values():
        source = LISTINGS[backend].listing(spec)
        for line in source.splitlines():
            assert len(line) <= 100 and line == line.rstrip(), line
        assert "\n\n\n\n" not in source and source.endswith(")\n")
        for match in re.finditer(r"^(@.*\n)*(class|def) ", source, flags=re.MULTILINE):  # decorators first
            assert source[: match.start()].endswith("\n\n\n"), source[match.start() : match.start() + 40]


def test_the_listing_modules_are_mirror_images_without_a_framework():
    """None imports a framework, and all have the same sections in the same order."""
    trees = {backend: ast.parse(Path(module.__file__).read_text()) for backend, module in LISTINGS.items()}
    for tree in trees.values():
        imported = {
            alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names
        } | {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
        assert not imported & {
            "torch",
            "torchvision",
            "pytorch_lightning",
            "keras",
            "tensorflow",
            "jax",
            "flax",
            "optax",
        }
    functions = {
        backend: [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        for backend, tree in trees.items()
    }
    sections = [
        "listing",
        "header",
        "imports",
        "data",
        "pipeline",
        "model",
        "loss_and_optimizer",
        "training",
        "results",
    ]
    reexported = {"lightning": (torch_listing, {"data", "pipeline"}), "keras": (tf_listing, {"pipeline"})}
    reexported |= dict.fromkeys(("keras-jax", "keras-torch"), (keras_listing, {"model", "loss_and_optimizer"}))
    # Keras' other backends bind the rest to what keras_impl/_backends.py makes for them
    bound = dict.fromkeys(("keras-jax", "keras-torch"), set(sections) - {"model", "loss_and_optimizer"})
    for backend, names in functions.items():
        sibling, shared = reexported.get(backend, (None, set()))
        own = [name for name in names if not name.startswith("_")]
        assert own == [name for name in sections if name not in shared | bound.get(backend, set())], backend
        made = {name: getattr(LISTINGS[backend], name).__qualname__ for name in bound.get(backend, ())}
        assert made == {name: f"listing_sections.<locals>.{name}" for name in made}, backend
        module = LISTINGS[backend]
        assert all(getattr(module, name) is getattr(sibling, name) for name in shared)
        assert [name for name in sections if callable(getattr(module, name, None))] == sections


def test_tf_listing_is_tensorflow_without_keras_and_copies_the_code_that_runs():
    """The slides' style: a tf.Module subclass of tf.nn ops, a GradientTape step compiled with
    tf.function; the helpers it needs are tf_impl's own, character for character."""
    source = tf_listing.listing(SPECS["every_layer"])
    assert "import keras" not in source and "keras." not in source  # the header says "without Keras"
    assert "class EveryLayer(tf.Module):" in source and "with tf.GradientTape() as tape:" in source
    assert "@tf.function" in source and "optimizer.apply_gradients(gradients)" in source
    for path, name in [
        ("semantics.py", "pad2d"),
        ("semantics.py", "BatchNorm"),
        ("semantics.py", "nll_loss"),
        ("semantics.py", "Adam"),
    ]:
        assert definition(ROOT / "tf_impl" / path, name) in source
    assert "class SGD" not in source and "def cross_entropy" not in source  # only what the spec uses
    assert "class SimpleCNN(tf.Module):" in tf_listing.listing(SPECS["simple_cnn"])
