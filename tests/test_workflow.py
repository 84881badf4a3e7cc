"""The slides' whole workflow: a test split evaluated once, softmax outputs with a loss on
probabilities, data statistics, predict on image files, the frameworks' own model files,
and the trainer called as the slides call it."""

from __future__ import annotations

from functools import partial

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from conftest import ROOT, run_python
from PIL import Image
from torch import nn

import run
from common.data.datasets import load_dataset
from common.data.prep import normalize, split_dataset
from common.files.weights import load_weights
from common.parity.checks import check_lockstep
from common.runs.inputs import run_inputs
from keras_impl import forward as keras_forward
from keras_impl import semantics as keras_semantics
from keras_impl import train as keras_train
from spec import SpecError, load_spec, resolve_spec
from tf_impl import build as tf_build
from tf_impl import semantics as tf_semantics
from tf_impl import train as tf_train
from torch_impl import forward as torch_forward
from torch_impl import listing as torch_listing
from torch_impl import semantics as torch_semantics
from torch_impl import train as torch_train
from common.runs import runner

keras_trainer = partial(runner.make_trainer, "keras")
tf_trainer = partial(runner.make_trainer, "tf")
torch_trainer = partial(runner.make_trainer, "torch")

SLIDES = "mnist_cnn_slides"
PROBS_SPEC = """\
name: probs
title: softmax output, loss on probabilities (tests only)
data:
  dataset: {kind: lines, img_size: 10, n_images: 200, binary: false, seed: 3}
  split: {fractions: [0.6, 0.2, 0.2], seed: 5}
  normalize: NORMALIZE
  batch_size: 16
model:
  seed: 2
  layers:
    - {conv2d: {name: conv, filters: 3, kernel: 3, activation: relu}}
    - {maxpool2d: {name: pool, kernel: 2}}
    - {flatten: {name: flatten}}
    - {linear: {name: hidden, units: 8, activation: relu}}
    - {linear: {name: out, units: 3, activation: softmax}}
train:
  loss: cross_entropy_probs
  optimizer: {adam: {lr: 0.01}}
  epochs: 3
  seed: 4
"""


def _spec(tmp_path: Path, text: str = PROBS_SPEC, normalize: str = "auto", name: str = "probs.yaml"):
    path = tmp_path / name
    path.write_text(text.replace("NORMALIZE", normalize))
    return load_spec(path)


def _mnist_file(path: Path, size: int = 12, n_train: int = 60, n_test: int = 20) -> Path:
    """A keras-format mnist.npz of noise with a bright bar whose row says the digit."""
    rng = np.random.default_rng(1)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        x = rng.integers(0, 40, (n, size, size), dtype=np.uint8)
        x[np.arange(n), labels % size, :] = 250
        return x, labels

    (x_train, y_train), (x_test, y_test) = images(n_train), images(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


# -- 1. three-way splits, evaluated once after training ---------------------------------


def test_a_three_way_split_is_torchs_random_split(tmp_path):
    spec = _spec(tmp_path)
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    torch.manual_seed(5)
    parts = torch.utils.data.random_split(range(200), [0.6, 0.2, 0.2])
    images = load_dataset(spec.data.dataset).images
    for part, x in zip(parts, (split.x_train, split.x_val, split.x_test)):
        assert np.array_equal(x, images[list(part)] / np.float32(255))


def test_two_fractions_still_split_as_before_and_have_no_test_split():
    spec = load_spec(resolve_spec("relu"))
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    torch.manual_seed(13)
    train, val = torch.utils.data.random_split(range(300), [0.8, 0.2])
    labels = load_dataset(spec.data.dataset).labels
    assert np.array_equal(split.y_train, labels[list(train)]) and np.array_equal(split.y_val, labels[list(val)])
    assert split.x_test is None and not spec.data.has_test_split


@pytest.mark.parametrize("fractions", ["[0.5, 0.6]", "[0.2, 0.2, 0.2, 0.4]", "[1.0]"])
def test_bad_fractions_are_refused_at_their_line(tmp_path, fractions):
    text = PROBS_SPEC.replace("[0.6, 0.2, 0.2]", fractions)
    with pytest.raises(SpecError, match=r"probs.yaml:5: .*two fractions .* or three .* that sum to 1"):
        _spec(tmp_path, text)


def test_mnists_own_test_set_is_the_test_split_with_three_fractions(tmp_path):
    """The slides' 50,000 / 10,000 / 10,000, at a 60 + 20 scale: 50 / 10 / the 20 of x_test."""
    path = _mnist_file(tmp_path / "mnist.npz")
    spec = run._spec(run.build_parser().parse_args(["train", "--model", SLIDES, "--data", str(path)]))
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (50, 10, 20)
    with np.load(path) as mnist:
        assert np.array_equal(split.y_test, mnist["y_test"])
        kept = np.concatenate([split.x_train, split.x_val])[:, 0] * 255
        assert sorted(map(bytes, np.rint(kept).astype(np.uint8))) == sorted(map(bytes, mnist["x_train"]))
    two = run._spec(run.build_parser().parse_args(["train", "--model", "mnist_cnn", "--data", str(path)]))
    split = split_dataset(load_dataset(two.data.dataset), two.data)
    assert len(split.y_val) == 20 and split.x_test is None  # two fractions: x_test validates, as before


def test_mnists_own_split_sizes_are_the_slides():
    """0.75 : 0.15 of MNIST's 60,000 training images is exactly 50,000 : 10,000."""
    from common.data.prep import split_indices

    spec = load_spec(resolve_spec(SLIDES))
    f_train, f_val, _ = spec.data.split_fractions
    parts = split_indices(60000, (f_train / (f_train + f_val), f_val / (f_train + f_val)), 0)
    assert [len(part) for part in parts] == [50000, 10000]


class _Untouchable:
    """A test loader that fails the moment training reads it."""

    def __iter__(self):
        raise AssertionError("the test split was read during training")


@pytest.mark.parametrize("make_trainer", [torch_trainer, keras_trainer, tf_trainer], ids=["torch", "keras", "tf"])
def test_training_never_reads_the_test_split_and_evaluate_counts_it_once(tmp_path, make_trainer):
    spec = _spec(tmp_path)
    trainer = make_trainer(spec, "nchw")
    test_loader = trainer.test_loader
    trainer.test_loader = _Untouchable()
    trainer.train(2)
    trainer.test_loader = test_loader
    loss, counts = trainer.evaluate(test_loader)
    split = run_inputs(spec, "nchw").split
    assert counts[:, 1].tolist() == np.bincount(split.y_test, minlength=3).tolist()
    if make_trainer is torch_trainer:
        batch_losses = [trainer.loss_fn(torch.as_tensor(trainer.predict(x)), y).item() for x, y in test_loader]
    else:
        batch_losses = [float(trainer.loss_fn(y, trainer.predict(x))) for x, y in test_loader.as_numpy_iterator()]
    assert loss == pytest.approx(np.mean(batch_losses), rel=1e-5)
    assert counts[:, 0].sum() == trainer.loader_apply(test_loader, trainer.correct).sum(axis=0)[:, 0].sum()


@pytest.mark.parametrize("backend", ["torch", "lightning", "keras", "tf"])
def test_the_run_reports_its_test_figures(tmp_path, backend):
    spec_path = tmp_path / "probs.yaml"
    spec_path.write_text(PROBS_SPEC.replace("NORMALIZE", "auto"))
    out = tmp_path / "run"
    assert run.main(["--backend", backend, "--model", str(spec_path), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(total for _, total in metrics["test_per_class"]) == 40
    correct = sum(c for c, _ in metrics["test_per_class"])
    assert metrics["test_accuracy"] == correct / 40 and math.isfinite(metrics["test_loss"])
    assert (out / "spec.yaml").read_text() == spec_path.read_text()


# -- 2. probabilities as outputs ----------------------------------------------------------


def test_the_slides_spec_is_the_keras_slide():
    source = run_python("run.py", "show", SLIDES, "--backend", "keras").stdout
    for line in (
        'layers.Conv2D(32, kernel_size=3, activation="relu", name="conv1")',
        'layers.Conv2D(64, kernel_size=3, activation="relu", name="conv2")',
        'layers.Dense(64, activation="relu", name="dense1")',
        'layers.Dense(3, activation="softmax", name="dense2")',
        "loss_fn = keras.losses.SparseCategoricalCrossentropy()",
        "optimizer=keras.optimizers.Adam(learning_rate=0.001),",
        "scores = model.evaluate(test_batches, return_dict=True, verbose=0)",
        'test_loss, test_acc = scores["batch_mean_loss"], scores["accuracy"]',
    ):
        assert line in source
    spec = load_spec(resolve_spec(SLIDES))
    assert spec.data.normalize == "scale" and spec.data.mean is None
    assert spec.train.optimizer_params == {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.0}


def test_torch_loss_on_probabilities_is_nll_of_their_log_and_stays_finite():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 200.0, -200.0]], requires_grad=True)
    target = torch.tensor([0, 2])
    probs = torch.softmax(logits, dim=1)
    assert probs[1, 2] == 0  # underflowed: log(0) = -inf
    loss = torch_semantics.ProbsNLLLoss()(probs, target)
    loss.backward()
    tiny = torch.finfo(torch.float32).tiny
    expected = -(torch.log_softmax(logits[:1].detach(), 1)[0, 0] + math.log(tiny)) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.isfinite(logits.grad).all()


def test_keras_clips_probabilities_and_the_lockstep_loss_takes_torchs():
    """Keras' SparseCategoricalCrossentropy() on bare probabilities clips them to [1e-7, 1 - 1e-7]
    (on a softmax layer's output it uses the logits behind it); torch's log goes lower."""
    probs = np.array([[1e-9, 0.5, 0.5 - 1e-9], [0.2, 0.3, 0.5]], np.float32)
    y = np.array([0, 2])
    torch_loss = torch_semantics.ProbsNLLLoss()(torch.as_tensor(probs), torch.as_tensor(y)).item()
    lockstep = float(keras.ops.mean(keras_semantics.TorchProbsNLLLoss()(y, probs)))
    native = float(keras.losses.SparseCategoricalCrossentropy()(y, probs))
    assert lockstep == pytest.approx(torch_loss, rel=1e-6)
    assert native == pytest.approx((-math.log(1e-7) - math.log(0.5)) / 2, rel=1e-5)
    assert torch_loss - native > 1.0  # -log(1e-9) against -log(1e-7), halved


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_keras_follows_torch_in_lockstep_on_probabilities(tmp_path, layout):
    parity = check_lockstep(_spec(tmp_path, normalize="{scale: 255}"), layout, ["keras"])["keras"]
    assert parity.passed and parity.per_class_equal, parity


def test_a_softmax_head_needs_the_probability_loss(tmp_path):
    with pytest.raises(SpecError, match="probs.yaml:15: .*must be logits for loss cross_entropy: drop the final"):
        _spec(tmp_path, PROBS_SPEC.replace("loss: cross_entropy_probs", "loss: cross_entropy"))
    with pytest.raises(SpecError, match="probs.yaml:15: .*must be probabilities for loss cross_entropy_probs"):
        _spec(tmp_path, PROBS_SPEC.replace(", activation: softmax", ""))


def test_a_fused_activation_name_cannot_be_taken(tmp_path):
    text = PROBS_SPEC.replace("{maxpool2d: {name: pool,", "{maxpool2d: {name: conv_relu,")
    with pytest.raises(SpecError, match="probs.yaml:12: layer name 'conv_relu' is taken by the activation of"):
        _spec(tmp_path, text)


def test_hooks_on_a_fused_layer_see_its_activation_in_both_frameworks(tmp_path):
    spec = _spec(tmp_path)
    x = run_inputs(spec, "nchw").split.x_val[:4]
    maps = {}
    for name, make_trainer in (("torch", torch_trainer), ("keras", keras_trainer)):
        trainer = make_trainer(spec, "nchw")
        trainer.attach_hooks(["conv"])
        trainer.predict(x)
        maps[name] = trainer.visualization["conv"]
    assert (maps["torch"] >= 0).all() and (maps["torch"] == 0).any()  # after the ReLU
    assert maps["torch"].shape == maps["keras"].shape == (4, 3, 8, 8)


# -- 3. normalisation from the data ---------------------------------------------------------


def test_normalize_auto_is_the_slides_stacked_mean_and_std(tmp_path):
    colour = PROBS_SPEC.replace("kind: lines, img_size: 10", "kind: colors, img_size: 10")
    spec = _spec(tmp_path, text=colour.replace(", binary: false", ""))
    inputs = run_inputs(spec, "nchw")
    imgs = torch.as_tensor(inputs.split.x_train)  # the CIFAR slides: torch.stack(imgs, dim=3).view(3, -1)
    stacked = imgs.permute(1, 2, 3, 0).reshape(3, -1)
    assert inputs.data.mean == pytest.approx(stacked.mean(dim=1).tolist(), rel=1e-5)
    assert inputs.data.std == pytest.approx(stacked.std(dim=1).tolist(), rel=1e-5)
    metrics = json.loads(_train_and_read(tmp_path, spec.path, "torch"))
    recorded = {"mean": list(inputs.data.mean), "std": list(inputs.data.std), "from": "training split"}
    assert metrics["normalization"] == recorded


def _train_and_read(tmp_path: Path, spec_path: Path, backend: str) -> str:
    out = tmp_path / f"run-{backend}"
    args = ["--backend", backend, "--model", str(spec_path), "--out", str(out), "--quiet", "--epochs", "1"]
    assert run.main(args) == 0
    return (out / "metrics.json").read_text()


@pytest.mark.parametrize("value, message", [("{scale: 256}", "must be 255"), ("sometimes", "must be auto, ")])
def test_a_bad_normalize_is_refused_at_its_line(tmp_path, value, message):
    with pytest.raises(SpecError, match=f"probs.yaml:6: .*{message}"):
        _spec(tmp_path, normalize=value)


def test_the_shipped_real_data_specs_say_where_their_constants_come_from():
    """Each spec written for MNIST or CIFAR-10 explains its normalisation in a comment."""
    for name in ("fc_tanh", "fc_tanh_nll", "lenet", "mnist_cnn"):
        lines = resolve_spec(name).read_text().splitlines()
        comments = " ".join(line for line in lines if line.strip().startswith("#"))
        assert "normalize: auto" in comments and "training" in comments, name


# -- 4. predict ---------------------------------------------------------------------------

COLOURS_SPEC = """\
name: colours
title: colour classes, for predict (tests only)
data:
  dataset: {kind: colors, img_size: 8, n_images: 300, n_classes: 3, seed: 4}
  split: {fractions: [0.8, 0.2], seed: 1}
  normalize: auto
  batch_size: 16
model:
  seed: 3
  layers:
    - {flatten: {name: flatten}}
    - {linear: {name: out, units: 3}}
train:
  loss: cross_entropy
  optimizer: {adam: {lr: 0.01}}
  epochs: 8
  seed: 5
"""


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    """A torch run on the colour classes, and PNG files of its validation images (RGB)."""
    tmp = tmp_path_factory.mktemp("colours")
    spec_path = tmp / "colours.yaml"
    spec_path.write_text(COLOURS_SPEC)
    out = tmp / "run"
    assert run.main(["--backend", "torch", "--model", str(spec_path), "--out", str(out), "--quiet"]) == 0
    split = run_inputs(load_spec(spec_path), "nchw").split
    folder = tmp / "images"
    folder.mkdir()
    for i, image in enumerate(np.rint(split.x_val[:30] * 255).astype(np.uint8)):
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i:02d}.png")
    return out, folder, split.y_val[:30]


def _predicted(stdout: str) -> list[str]:
    return [line.split(": ")[1].split()[0] for line in stdout.splitlines()[1:]]


@pytest.mark.parametrize("backend", ["torch", "lightning", "keras", "tf"])
def test_predict_classifies_files_as_the_run_does_in_any_backend(colour_run, capsys, backend):
    out, folder, labels = colour_run
    assert run.main(["predict", str(out), str(folder), "--backend", backend]) == 0
    predicted = _predicted(capsys.readouterr().out)
    names = ["red", "green", "blue"]
    assert np.mean([p == names[y] for p, y in zip(predicted, labels)]) > 0.9
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_accuracy"] > 0.9


def test_predict_never_swaps_channels_but_a_bgr_image_is_another_colour(colour_run, tmp_path, capsys):
    """OpenCV's imread gives BGR: fed so, red shapes read as blue. predict reads RGB, always."""
    out, folder, labels = colour_run
    bgr = tmp_path / "bgr"
    bgr.mkdir()
    for path in sorted(folder.iterdir()):
        Image.fromarray(np.asarray(Image.open(path))[:, :, ::-1]).save(bgr / path.name)
    assert run.main(["predict", str(out), str(folder)]) == 0
    rgb_predicted = _predicted(capsys.readouterr().out)
    assert run.main(["predict", str(out), str(bgr)]) == 0
    bgr_predicted = _predicted(capsys.readouterr().out)
    swapped = {"red": "blue", "green": "green", "blue": "red"}
    names = ["red", "green", "blue"]
    assert np.mean([p == names[y] for p, y in zip(rgb_predicted, labels)]) > 0.9
    assert np.mean([p == swapped[names[y]] for p, y in zip(bgr_predicted, labels)]) > 0.9
    assert sum(a != b for a, b in zip(rgb_predicted, bgr_predicted)) >= 15  # red and blue: two thirds


@pytest.mark.parametrize(
    "mode, size, message",
    [
        ("L", (8, 8), "is a L image, but the model was trained on 8x8 RGB images (colors)"),
        ("RGB", (9, 8), "is 8x9 pixels, but the model was trained on 8x8 RGB images"),
    ],
)
def test_predict_refuses_what_training_never_saw(colour_run, tmp_path, mode, size, message):
    out, _, _ = colour_run
    path = tmp_path / "odd.png"
    Image.new(mode, size).save(path)
    done = run_python("run.py", "predict", str(out), str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_predict_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    done = run_python("run.py", "predict", str(tmp_path), str(tmp_path))
    assert done.returncode == 2
    assert "is not a run folder of run.py train: it lacks spec.yaml, weights.npz" in done.stderr


# -- 5. the frameworks' own model files -----------------------------------------------------

TORCH_LOADS = """\
import sys
import numpy as np
import torch
from torch import nn
{model}
model.load_state_dict(torch.load(sys.argv[1]))
model.eval()
with torch.no_grad():
    print(model(torch.as_tensor(np.load(sys.argv[2]))).argmax(dim=1).tolist())
assert not {{"spec", "common", "torch_impl", "keras_impl"}} & {{m.split(".")[0] for m in sys.modules}}
"""

KERAS_LOADS = """\
import sys
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
print(model.predict(np.load(sys.argv[2]), verbose=0).argmax(axis=1).tolist())
assert not {{"spec", "common", "torch_impl", "keras_impl"}} & {{m.split(".")[0] for m in sys.modules}}
"""


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_fresh_process_loads_the_native_file_with_the_framework_alone(tmp_path, backend):
    spec_path = tmp_path / "colours.yaml"
    spec_path.write_text(COLOURS_SPEC)
    out = tmp_path / "run"
    assert run.main(["--backend", backend, "--model", str(spec_path), "--out", str(out), "--quiet"]) == 0
    spec = load_spec(spec_path)
    inputs = run_inputs(spec, "nchw")
    x = normalize(inputs.split.x_val, inputs.data.mean, inputs.data.std)
    layout = "nchw" if backend == "torch" else "nhwc"
    forward = torch_forward if backend == "torch" else keras_forward
    expected = forward.forward(spec.model, layout, load_weights(out / "weights.npz", spec.model), x).argmax(axis=1)
    np.save(tmp_path / "x.npy", x if backend == "torch" else x.transpose(0, 2, 3, 1))
    if backend == "torch":
        listing = torch_listing.listing(spec)
        model = listing[listing.index("torch.manual_seed(3)") : listing.index("\n\n", listing.index("model ="))]
        script, native = TORCH_LOADS.format(model=model), out / "model.pt"
    else:
        script, native = KERAS_LOADS.format(), out / "model.keras"
    (tmp_path / "load.py").write_text(script)
    args = (str(tmp_path / "load.py"), str(native), str(tmp_path / "x.npy"))
    done = run_python(*args, cwd=tmp_path, env={"PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected.tolist()
    assert len(set(expected.tolist())) == 3  # a model that tells the classes apart, not a constant


# -- 6. the slides' trainer calls ----------------------------------------------------------


@pytest.mark.parametrize(
    "loss_fn, kind",
    [
        (nn.BCELoss(), "bce"),
        (nn.BCEWithLogitsLoss(), "bce_logits"),
        (nn.CrossEntropyLoss(), "cross_entropy"),
        (torch_semantics.ProbsNLLLoss(), "cross_entropy_probs"),
        (nn.NLLLoss(), "nll"),
    ],
)
def test_torch_step_by_step_takes_the_books_three_arguments(loss_fn, kind):
    model = nn.Sequential(nn.Linear(2, 1))
    sbs = torch_train.StepByStep(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
    assert sbs.loss_kind == kind


@pytest.mark.parametrize(
    "loss_fn, kind",
    [
        (keras.losses.BinaryCrossentropy(), "bce"),
        (keras.losses.BinaryCrossentropy(from_logits=True), "bce_logits"),
        (keras.losses.SparseCategoricalCrossentropy(from_logits=True), "cross_entropy"),
        (keras.losses.SparseCategoricalCrossentropy(), "cross_entropy_probs"),
        (keras_semantics.TorchProbsNLLLoss(), "cross_entropy_probs"),
        (keras_semantics.NLLLoss(), "nll"),
    ],
)
def test_keras_step_by_step_takes_the_books_three_arguments(loss_fn, kind):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    sbs = keras_train.StepByStep(model, loss_fn, keras.optimizers.SGD(0.1))
    assert sbs.loss_kind == kind


def test_an_unknown_loss_asks_for_its_kind():
    model = nn.Sequential(nn.Linear(2, 1))
    with pytest.raises(Exception, match="cannot tell what MSELoss expects"):
        torch_train.StepByStep(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))


def test_the_parameter_tables_list_each_tensor_as_the_frameworks_hold_it():
    spec = load_spec(resolve_spec(SLIDES))
    tables = {
        name: make(spec, layout).parameter_table()
        for name, make, layout in (("torch", torch_trainer, "nchw"), ("keras", keras_trainer, "nhwc"))
    }
    assert "conv1   weight  (32, 1, 3, 3)       288" in tables["torch"]
    assert "conv1   kernel  (3, 3, 1, 32)       288" in tables["keras"]
    assert "dense1  weight  (64, 1600)      102,400" in tables["torch"]
    assert "dense1  kernel  (1600, 64)      102,400" in tables["keras"]
    for table in tables.values():
        assert table.endswith("total: 121,475 parameters")
    shown = run_python("run.py", "show", SLIDES, "--parameters").stdout
    assert "# conv2   weight  (64, 32, 3, 3)   18,432" in shown and shown.endswith("# total: 121,475 parameters\n")


def test_the_listings_normalise_as_the_columns_do(tmp_path, monkeypatch):
    """normalize: auto in the listings: the training split's mean and std, as the runs' own."""
    from test_show import run_listing

    from keras_impl import listing as keras_listing

    monkeypatch.chdir(tmp_path)  # a listing writes where it runs
    spec = load_spec(ROOT / "tests" / "specs" / "auto_test_split.yaml")
    data = run_inputs(spec, "nchw").data
    torch_ns = run_listing(torch_listing.listing(spec), epochs=0)
    keras_ns = run_listing(keras_listing.listing(spec), epochs=0)
    for mean, std in ((torch_ns["normalizer"].mean, torch_ns["normalizer"].std), (keras_ns["mean"], keras_ns["std"])):
        assert list(mean) == pytest.approx(data.mean, rel=1e-5) and list(std) == pytest.approx(data.std, rel=1e-5)
    assert len(torch_ns["test_set"]) == len(keras_ns["y_test"]) == 18


# -- 7. TensorFlow without Keras --------------------------------------------------------------


def test_tf_clips_probabilities_and_the_lockstep_loss_takes_torchs():
    """tf's native loss on probabilities clips them to [1e-7, 1 - 1e-7], as TensorFlow's
    sparse categorical cross-entropy does; the lockstep one is torch's clamped log."""
    probs = np.array([[1e-9, 0.5, 0.5 - 1e-9], [0.2, 0.3, 0.5]], np.float32)
    y = np.array([0, 2])
    torch_loss = torch_semantics.ProbsNLLLoss()(torch.as_tensor(probs), torch.as_tensor(y)).item()
    lockstep = float(tf_semantics.torch_probs_nll_loss(y, probs))
    native = float(tf_semantics.cross_entropy_probs(y, probs))
    assert lockstep == pytest.approx(torch_loss, rel=1e-6)
    assert native == pytest.approx((-math.log(1e-7) - math.log(0.5)) / 2, rel=1e-5)
    assert native == pytest.approx(float(keras.losses.SparseCategoricalCrossentropy()(y, probs)), rel=1e-6)


def test_tf_lockstep_loss_on_probabilities_stays_finite_where_one_underflows():
    logits = tf.Variable([[2.0, -1.0, 0.5], [0.0, 200.0, -200.0]])
    with tf.GradientTape() as tape:
        probs = tf.nn.softmax(logits)
        loss = tf_semantics.torch_probs_nll_loss(tf.constant([0, 2]), probs)
    assert float(probs[1, 2]) == 0  # underflowed: log(0) = -inf
    expected = -(float(tf.nn.log_softmax(logits[:1])[0, 0]) + math.log(tf_semantics.TINY)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert bool(tf.reduce_all(tf.math.is_finite(tape.gradient(loss, logits))))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_tf_follows_torch_in_lockstep_on_probabilities(tmp_path, layout):
    parity = check_lockstep(_spec(tmp_path, normalize="{scale: 255}"), layout, ["tf"])["tf"]
    assert parity.passed and parity.per_class_equal, parity


def test_hooks_on_a_fused_tf_layer_see_its_activation(tmp_path):
    spec = _spec(tmp_path)
    x = run_inputs(spec, "nchw").split.x_val[:4]
    trainer = tf_trainer(spec, "nchw")
    trainer.attach_hooks(["conv"])
    trainer.predict(x)
    maps = trainer.visualization["conv"]
    assert maps.shape == (4, 3, 8, 8)
    assert (maps >= 0).all() and (maps == 0).any()  # after the ReLU


TF_LOADS = """\
import sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
print(model.serve(tf.constant(np.load(sys.argv[2]))).numpy().argmax(axis=1).tolist())
outputs = model.signatures["serving_default"](images=tf.constant(np.load(sys.argv[2])))
print(next(iter(outputs.values())).numpy().argmax(axis=1).tolist())
# (import tensorflow itself loads keras, its bundled API: only twinspec must stay out)
assert not {"spec", "common", "torch_impl", "keras_impl", "tf_impl"} & {m.split(".")[0] for m in sys.modules}
"""


def test_a_fresh_process_loads_the_tf_savedmodel_with_tensorflow_alone(tmp_path):
    spec_path = tmp_path / "colours.yaml"
    spec_path.write_text(COLOURS_SPEC)
    out = tmp_path / "run"
    assert run.main(["--backend", "tf", "--model", str(spec_path), "--out", str(out), "--quiet"]) == 0
    spec = load_spec(spec_path)
    inputs = run_inputs(spec, "nchw")
    x = normalize(inputs.split.x_val, inputs.data.mean, inputs.data.std)
    expected = torch_forward.forward(spec.model, "nchw", load_weights(out / "weights.npz", spec.model), x)
    np.save(tmp_path / "x.npy", x.transpose(0, 2, 3, 1))
    (tmp_path / "load.py").write_text(TF_LOADS)
    native = out / "model.savedmodel"
    assert (native / "saved_model.pb").is_file()
    args = (str(tmp_path / "load.py"), str(native), str(tmp_path / "x.npy"))
    done = run_python(*args, cwd=tmp_path, env={"PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    served, signed = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert served == signed == expected.argmax(axis=1).tolist()
    assert len(set(served)) == 3  # a model that tells the classes apart, not a constant


@pytest.mark.parametrize(
    "loss_fn, kind",
    [
        (tf_semantics.bce, "bce"),
        (tf_semantics.torch_bce_loss, "bce"),
        (tf_semantics.bce_logits, "bce_logits"),
        (tf_semantics.cross_entropy, "cross_entropy"),
        (tf_semantics.cross_entropy_probs, "cross_entropy_probs"),
        (tf_semantics.torch_probs_nll_loss, "cross_entropy_probs"),
        (tf_semantics.nll_loss, "nll"),
    ],
)
def test_tf_step_by_step_takes_the_books_three_arguments(loss_fn, kind):
    spec = load_spec(ROOT / "tests" / "specs" / "auto_test_split.yaml")
    model = tf_build.build_model(spec.model, "nhwc")
    sbs = tf_train.StepByStep(model, loss_fn, tf_semantics.SGD(model.trainable_variables, 0.1))
    assert sbs.loss_kind == kind


def test_tf_asks_for_the_kind_of_an_unknown_loss():
    spec = load_spec(ROOT / "tests" / "specs" / "auto_test_split.yaml")
    model = tf_build.build_model(spec.model, "nhwc")
    with pytest.raises(Exception, match="cannot tell what mean_squared expects"):

        def mean_squared(y, yhat):
            return tf.reduce_mean((tf.cast(y, tf.float32) - yhat) ** 2)

        tf_train.StepByStep(model, mean_squared, tf_semantics.SGD(model.trainable_variables, 0.1))


def test_the_tf_parameter_table_lists_tensorflows_shapes():
    table = tf_trainer(load_spec(resolve_spec(SLIDES)), "nhwc").parameter_table()
    assert "conv1   kernel  (3, 3, 1, 32)       288" in table
    assert "dense1  kernel  (1600, 64)      102,400" in table
    assert table.index("conv1   kernel") < table.index("conv1   bias")  # as the layer makes them, as Keras lists them
    assert table.endswith("total: 121,475 parameters")


def test_the_tf_listing_runs_the_tf_columns_workflow(tmp_path, monkeypatch):
    """Fused activations, a softmax with the loss on probabilities, normalize: auto and a test
    split: with batches in order the listing's epoch and its test figures are the tf
    column's, to float32 round-off (two traced graphs may order a sum differently)."""
    from test_show import run_listing

    from tf_impl import listing as tf_listing

    tf_train_spec = partial(runner.train_spec, "tf")

    monkeypatch.chdir(tmp_path)  # a listing writes its model and figure where it runs
    spec = _spec(tmp_path, PROBS_SPEC.replace("  batch_size: 16", "  batch_size: 16\n  sampler: sequential"))
    assert spec.data.sampler == "sequential" and not spec.data.hflip
    namespace = run_listing(tf_listing.listing(spec), epochs=1)
    data = run_inputs(spec, "nhwc").data
    assert list(namespace["mean"]) == pytest.approx(data.mean, rel=1e-5)
    assert list(namespace["std"]) == pytest.approx(data.std, rel=1e-5)
    result = tf_train_spec(spec.with_overrides(epochs=1), "nhwc")
    assert namespace["losses"][0] == pytest.approx(result.train_loss[0], rel=1e-6)
    assert namespace["val_losses"][0] == pytest.approx(result.val_loss[0], rel=1e-6)
    assert namespace["test_loss"] == pytest.approx(result.test_loss, rel=1e-6)
    assert namespace["test_acc"] == result.test_accuracy and len(namespace["y_test"]) == 40
