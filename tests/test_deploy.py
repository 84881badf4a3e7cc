"""Deployment: every column's trained cnn1 exported to every format its framework ships
(run.py deploy), the referee (parity --check deploy) on all of them and on the ONNX files in
one session, predict with an exported file, the referee's power to fail, and bad input."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from conftest import SESSION, run_here
from PIL import Image

from common.data.datasets import load_dataset
from common.data.prep import split_dataset
from common.deploy.export import check_export
from common.runs.saved import load_run
from spec import load_spec, resolve_spec
from torch_impl.build import build_model

# What the issue asks each framework to ship, written out here rather than read from the code.
FORMATS = {
    "torch": {"onnx", "pt2"},
    "lightning": {"onnx", "pt2"},
    "keras": {"onnx", "litert", "saved_model"},
    "tf": {"saved_model", "litert"},
}
SUFFIX = {"onnx": ".onnx", "pt2": ".pt2", "litert": ".tflite", "saved_model": ""}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """cnn1 trained for two epochs in every column that can share this process (the referee
    needs trained weights, not good ones). Keras on JAX and torch export no format."""
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for name in SESSION:
        args = ["--backend", name, "--model", "cnn1", "--epochs", "2", "--quiet", "--out", str(root / name)]
        done = run_here("train", *args)
        assert done.returncode == 0, done.stderr
        folders[name] = root / name
    return folders


@pytest.fixture(scope="module")
def val_images() -> np.ndarray:
    """cnn1's validation images, uint8 (N, C, H, W), as the runs' split holds them."""
    spec = load_spec(resolve_spec("cnn1"))
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    return np.rint(split.x_val * 255).astype(np.uint8)


def _deploy(run: Path, fmt: str, out: Path, *more: str):
    return run_here("deploy", str(run), "--format", fmt, "--out", str(out), *more)


def test_every_format_of_every_column_and_one_onnx_session_match_the_trained_models(runs, tmp_path):
    report = tmp_path / "deploy.json"
    done = run_here("parity", "--check", "deploy", *map(str, runs.values()), "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout
    assert f"  jax ({runs['jax']}): its column deploys to no format; left out" in done.stdout.splitlines()
    figures = json.loads(report.read_text())
    alone = [e for e in figures["exports"] if "one session" not in e["runtime"]]
    together = [e for e in figures["exports"] if "one session" in e["runtime"]]
    assert {(e["column"], e["format"]) for e in alone} == {(c, f) for c, fs in FORMATS.items() for f in fs}
    assert {e["column"] for e in together} == {c for c, fs in FORMATS.items() if "onnx" in fs}
    for export in figures["exports"]:
        assert export["images"] == figures["images"] == 200  # cnn1's validation split
        assert export["argmax_agreement"] == 1.0 and export["passed"]
        assert 0 < export["bound"] < 1e-4  # round-off of outputs of order 1, not a loose tolerance
        assert export["max_abs_diff"] <= export["bound"]


def test_an_onnx_file_computes_the_torch_model_of_the_run(runs, tmp_path, val_images):
    """Checked without the referee: ONNX Runtime on the file, torch on the run's model.pt,
    the preprocessing written out by hand."""
    out = tmp_path / "cnn1.onnx"
    assert _deploy(runs["torch"], "onnx", out).returncode == 0
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert (given.type, given.shape[1:]) == ("tensor(uint8)", [1, 10, 10])
    exported = session.run(None, {given.name: val_images})[0]
    model = build_model(load_spec(resolve_spec("cnn1")).model, "nchw").eval()
    model.load_state_dict(torch.load(runs["torch"] / "model.pt", weights_only=True))
    with torch.no_grad():
        trained = model(torch.from_numpy((val_images / np.float32(255) - 0.5) / 0.5)).numpy()
    # one forward pass from the same weights: float32 sums of at most 16 terms in another order
    assert np.abs(exported - trained).max() < 1e-5
    assert (exported.argmax(1) == trained.argmax(1)).all()


def _tampered_onnx(source: Path, target: Path, change) -> Path:
    model = onnx.load(str(source))
    for tensor in model.graph.initializer:
        change(tensor)
    onnx.save(model, str(target))
    return target


def test_the_referee_fails_an_export_that_is_slightly_wrong(runs, tmp_path, val_images):
    out = tmp_path / "good.onnx"
    assert _deploy(runs["torch"], "onnx", out).returncode == 0
    saved = load_run(runs["torch"])
    assert check_export(saved, "onnx", out, val_images).passed

    def no_mean(tensor):  # the normalisation forgotten (torch's exporter keeps cnn1's equal mean and std once)
        if "mean" in tensor.name:
            zeros = np.zeros_like(onnx.numpy_helper.to_array(tensor))
            tensor.CopyFrom(onnx.numpy_helper.from_array(zeros, tensor.name))

    def nudged_bias(tensor):  # one bias off by 1e-4: far below any accuracy figure, far above round-off
        if tensor.name.endswith("fc2.bias"):
            value = onnx.numpy_helper.to_array(tensor) + np.float32(1e-4)
            tensor.CopyFrom(onnx.numpy_helper.from_array(value, tensor.name))

    for change in (no_mean, nudged_bias):
        wrong = check_export(saved, "onnx", _tampered_onnx(out, tmp_path / "wrong.onnx", change), val_images)
        assert not wrong.passed and not wrong.max_abs_diff <= wrong.bound  # NaN (a zero std) fails too


def _predictions(stdout: str) -> list[tuple[str, str, dict[str, float]]]:
    """(file, class, probabilities) of each line predict prints."""
    found = []
    for line in stdout.splitlines()[1:]:
        path, rest = line.split(": ", 1)
        best, ranked = re.fullmatch(r"(\S+)  \((.*)\)", rest).groups()
        pairs = ranked.split("  ")
        found.append((Path(path).name, best, {p.split(" ")[0]: float(p.split(" ")[1]) for p in pairs}))
    return found


@pytest.mark.parametrize(
    "column, fmt", [("torch", "pt2"), ("lightning", "onnx"), ("keras", "litert"), ("tf", "saved_model")]
)
def test_predict_with_an_exported_file_prints_what_the_run_prints(runs, tmp_path, val_images, column, fmt):
    images = []
    for i in range(6):
        images.append(tmp_path / f"{i}.png")
        Image.fromarray(val_images[i, 0]).save(images[-1])
    out = tmp_path / f"model{SUFFIX[fmt]}"
    assert _deploy(runs[column], fmt, out).returncode == 0
    from_run = run_here("predict", str(runs[column]), *map(str, images))
    from_file = run_here("predict", str(out), *map(str, images))
    assert from_run.returncode == from_file.returncode == 0, from_file.stderr
    assert f"cnn1 from {out}, {fmt} in " in from_file.stdout.splitlines()[0]
    ours, theirs = _predictions(from_run.stdout), _predictions(from_file.stdout)
    assert [(name, best) for name, best, _ in ours] == [(name, best) for name, best, _ in theirs]
    for (_, _, p), (_, _, q) in zip(ours, theirs):
        assert p.keys() == q.keys()  # printed with 3 decimals: round-off may tip the last one
        assert all(abs(p[c] - q[c]) <= 0.001 + 1e-9 for c in p)


# -- bad input: one line, status 2, nothing written or changed -------------------------------


def _refused(done, *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_an_existing_output_is_kept_without_force(runs, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"mine")
    _refused(_deploy(runs["torch"], "onnx", out), "--out", "--force")
    assert out.read_bytes() == b"mine"


def test_a_saved_model_folder_is_replaced_only_if_deploy_wrote_it(runs, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    _refused(_deploy(runs["tf"], "saved_model", mine, "--force"), "twinspec description")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    ours = tmp_path / "ours"
    assert _deploy(runs["tf"], "saved_model", ours).returncode == 0
    _refused(_deploy(runs["tf"], "saved_model", ours), "already exists")
    assert _deploy(runs["tf"], "saved_model", ours, "--force").returncode == 0


@pytest.mark.parametrize(
    "args, words",
    [
        (["--format", "litert", "--out", "m.tflite"], ["--format litert", "torch exports onnx, pt2"]),
        (["--format", "onnx", "--out", "m.bin"], ["--out", "ends in .onnx"]),
    ],
)
def test_a_format_or_name_that_does_not_fit_is_refused(runs, tmp_path, args, words):
    _refused(run_here("deploy", str(runs["torch"]), *args[:3], str(tmp_path / args[3])), *words)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    _refused(run_here("deploy", str(tmp_path), "--format", "onnx", "--out", str(tmp_path / "m.onnx")), "run folder")
    _refused(run_here("parity", "--check", "deploy", str(tmp_path / "nowhere")), "does not exist")


def test_runs_of_different_specs_do_not_go_side_by_side(runs, tmp_path):
    other = tmp_path / "relu"
    assert run_here("train", "--model", "relu", "--epochs", "1", "--quiet", "--out", str(other)).returncode == 0
    _refused(run_here("parity", "--check", "deploy", str(runs["torch"]), str(other)), "one spec")


def test_a_model_file_twinspec_did_not_write_is_refused_before_it_loads(tmp_path):
    plain = tmp_path / "plain.onnx"
    identity = onnx.helper.make_node("Identity", ["x"], ["y"])
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([identity], "g", [x], [y])), str(plain))
    image = tmp_path / "i.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(image)
    _refused(run_here("predict", str(plain), str(image)), "no twinspec description")


class _Marker:
    """Unpickling this creates a file: proof that code from the archive ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


@pytest.mark.parametrize("where", ["weights marked as pickled", "sample inputs"])
def test_a_pt2_archive_never_runs_a_pickle(runs, tmp_path, where):
    out = tmp_path / "model.pt2"
    assert _deploy(runs["torch"], "pt2", out).returncode == 0
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(evil, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if where == "sample inputs" and "/data/sample_inputs/" in item.filename:
                data = pickle.dumps(_Marker(marker))
            if where != "sample inputs" and item.filename.endswith("_weights_config.json"):
                config = json.loads(data)
                name, entry = next(iter(config["config"].items()))
                entry["use_pickle"] = True
                data = json.dumps(config).encode()
            if where != "sample inputs" and item.filename.endswith("/data/weights/weight_0"):
                buffer = io.BytesIO()
                pickle.dump(_Marker(marker), buffer)
                data = buffer.getvalue()
            target.writestr(item, data)
    image = tmp_path / "i.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(image)
    _refused(run_here("predict", str(evil), str(image)), str(evil))
    assert not marker.exists()


def test_export_still_writes_initial_weights_and_says_its_new_name(tmp_path):
    done = run_here("export", "--model", "relu", "--weights", str(tmp_path / "w.npz"))
    assert done.returncode == 0 and (tmp_path / "w.npz").is_file()
    assert "`export` is now `init-weights`" in done.stderr
    assert run_here("init-weights", "--model", "relu", "--weights", str(tmp_path / "v.npz")).returncode == 0
