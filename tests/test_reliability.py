"""Issue 29's catalogue, class by class: outputs that are devices or FIFOs, outputs that
appear during a run, forged run folders, terminal injection, FIFOs among the inputs, names
that are not UTF-8, spec values the frameworks cannot take, full disks, closed pipes and a
deleted working folder, and the noise of PIL, Lightning and repeated Ctrl-C.

Each refusal is held to what the README promises for bad input (exit status 2, or 130 /
143 for signals; one line naming the file, field or argument; no traceback; the folder
exactly as it was): ``tests/test_bad_input.py``'s harness. Where the process itself is the
subject (streams, encodings, signals, the environment) a case runs ``run.py`` in a fresh
interpreter; where it is what a command does with its files, in this one (``run_here``).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SESSION, run_here, run_python
from PIL import Image
from test_bad_input import (
    CLI,
    TINY,
    assert_refused,
    image_folder,
    interrupt,
    run_cli,
    snapshot,
    spec_file,
    tiny,
)

import torch_impl.forward
from common import columns
from common.errors import WriteError
from common.files.atomic import atomic_write
from common.parity import checks
from common.runs import runner, store
from spec import load_spec

TINY_NORMALIZED = TINY.replace("  batch_size: 8", "  normalize: {mean: [0.5], std: [0.5]}\n  batch_size: 8")
TINY_AUTO = TINY.replace("  batch_size: 8", "  normalize: auto\n  batch_size: 8")
# The user's images, resized to TINY's 5 x 5 grey inputs: a run whose classes are folder names
TINY_FOLDER = TINY.replace("  split:", "  source: {kind: image_folder, size: [5, 5], channels: 1}\n  split:")
TINY_COLOURS = TINY.replace(
    "{kind: lines, img_size: 5, n_images: 40, binary: true, seed: 1}",
    "{kind: colors, img_size: 5, n_images: 40, n_classes: 2, seed: 1}",
)
# 102,529 parameters: weights.npz and the native model file take some 400 KB each, loss.png 30
BIG = TINY.replace("img_size: 5", "img_size: 40").replace("units: 4}", "units: 64}")


def refused_here(folder: Path, *args: str) -> tuple[str, dict]:
    """``run.py args`` in this process, from ``folder``: its one line of stderr, and the
    folder as it was before (to compare with)."""
    before = snapshot(folder)
    done = run_here(*args, cwd=folder)
    return assert_refused(done, [], framework=True), before


def trained(folder: Path, text: str = TINY, *extra: str) -> Path:
    """A run folder of ``text``, trained one epoch in this process."""
    spec = spec_file(folder, text, "trained.yaml")
    out = folder / "run"
    done = run_here("train", "--model", str(spec), "--epochs", "1", "--quiet", "--out", str(out), *extra, cwd=folder)
    assert done.returncode == 0, done.stderr
    spec.unlink()
    return out


def grey_png(path: Path, size: tuple[int, int] = (5, 5)) -> Path:
    Image.fromarray(np.full(size[::-1], 128, np.uint8)).save(path)
    return path


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """No file of this process grows beyond ``limit`` bytes (``RLIMIT_FSIZE``): a write past
    it fails with EFBIG, as a full disk fails one with ENOSPC (Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


# --- 1. outputs that are not regular files are never replaced, --force or not ---------------------


def unix_socket(path: Path) -> Path:
    with socket.socket(socket.AF_UNIX) as sock, contextlib.chdir(path.parent):
        sock.bind(path.name)  # a socket's path holds at most 107 bytes: a deep tmp_path may not fit
    return path


SPECIAL_OUTPUTS = {
    "export-weights-fifo-force": (os.mkfifo, ["export", "--model", "relu", "--weights", "{}", "--force"], "FIFO"),
    "parity-json-fifo-force": (os.mkfifo, ["parity", "--model", "relu", "--json", "{}", "--force"], "FIFO"),
    "export-weights-socket-force": (unix_socket, ["export", "--model", "relu", "--weights", "{}", "--force"], "socket"),
    "report-out-link-to-dev-null-force": (
        lambda path: path.symlink_to("/dev/null"),
        ["report", "relu", "--out", "{}", "--force"],
        "character device",
    ),
    "train-out-fifo": (os.mkfifo, ["train", "--model", "relu", "--out", "{}"], "FIFO"),
}


@pytest.mark.parametrize("name", sorted(SPECIAL_OUTPUTS))
def test_an_output_that_is_not_a_regular_file_is_refused_and_kept(tmp_path, name):
    make, args, kind = SPECIAL_OUTPUTS[name]
    target = tmp_path / "target"
    make(target)
    args = [str(target) if arg == "{}" else arg for arg in args]
    option = next(arg for arg in args if arg.startswith("--") and arg != "--model")
    before = snapshot(tmp_path)
    line = assert_refused(run_cli(tmp_path, *args), [option, str(target), kind])
    assert "pass --force" not in line
    assert snapshot(tmp_path) == before


def test_dev_stdout_as_a_pipe_is_refused_without_a_hint_to_force(tmp_path):
    done = run_cli(tmp_path, "report", "relu", "--out", "/dev/stdout")  # stdout: this test's pipe
    line = assert_refused(done, ["--out /dev/stdout", "FIFO"])
    assert "--force" not in line


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_force_does_not_replace_a_device_node(tmp_path):
    """The issue's reproduction: as root, --force would have put a file where /dev/null's twin was."""
    node = tmp_path / "null"
    os.mknod(node, 0o666 | 0o020000, os.makedev(1, 3))
    done = run_cli(tmp_path, "export", "--model", "relu", "--weights", str(node), "--force")
    assert_refused(done, [str(node), "character device"])
    assert node.is_char_device()


def test_force_writes_through_a_link_to_a_file_and_keeps_the_link(tmp_path):
    (tmp_path / "real.npz").write_bytes(b"old")
    (tmp_path / "link.npz").symlink_to("real.npz")
    done = run_here("export", "--model", "relu", "--weights", str(tmp_path / "link.npz"), "--force")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "link.npz").is_symlink()
    with np.load(tmp_path / "real.npz") as written:
        assert "hidden0/weight" in written.files


# --- 2. an output that appears while the command runs is left as it is -----------------------------


def appear(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, make: Callable[[], None]) -> None:
    """``owner.name`` does what it did, then the user's file appears (``make``)."""
    original = getattr(owner, name)

    def then_the_file(*args, **kwargs):
        result = original(*args, **kwargs)
        make()
        return result

    monkeypatch.setattr(owner, name, then_the_file)


def mine(path: Path) -> Callable[[], None]:
    return lambda: path.write_text("MINE")


def mine_inside(folder: Path) -> Callable[[], None]:
    return lambda: (folder.mkdir(), (folder / "mine.txt").write_text("MINE"))


APPEARING = {  # command, the output, what it appears after, and what the message names
    "export": (["export", "--model", "relu", "--weights"], "w.npz", (torch_impl.forward, "initial_weights"), mine),
    "parity-json": (
        ["parity", "--model", "relu", "--backends", "lightning", "--json"],
        "p.json",
        (checks, "parity_report"),
        mine,
    ),
    "report": (
        ["report", "{spec}", "--backends", "torch", "--quiet", "--out"],
        "r.html",
        (checks, "check_forward"),
        mine,
    ),
    "train-while-training": (
        ["train", "--model", "{spec}", "--quiet", "--out"],
        "run",
        (runner, "train_spec"),
        mine_inside,
    ),
    "train-while-writing": (["train", "--model", "{spec}", "--quiet", "--out"], "run", (store, "_fill"), mine_inside),
    "compare-while-training": (
        ["compare", "--model", "{spec}", "--backends", "torch", "--quiet", "--out"],
        "run",
        (runner, "train_spec"),
        mine,
    ),
}


@pytest.mark.parametrize("name", sorted(APPEARING))
def test_an_output_that_appears_during_the_run_is_not_overwritten(tmp_path, monkeypatch, name):
    args, output, (owner, hook), make = APPEARING[name]
    spec = spec_file(tmp_path)
    target = tmp_path / output
    appear(monkeypatch, owner, hook, make(target))
    before = snapshot(tmp_path)
    done = run_here(*[str(spec) if arg == "{spec}" else arg for arg in args], str(target), cwd=tmp_path)
    assert_refused(done, [str(target)], framework=True)
    mine_file = target / "mine.txt" if target.is_dir() else target
    assert mine_file.read_text() == "MINE"
    assert snapshot(tmp_path) == {**before, **snapshot_of(target, tmp_path)}  # the user's file, and nothing else


def snapshot_of(target: Path, folder: Path) -> dict[str, str]:
    return {path: digest for path, digest in snapshot(folder).items() if path.startswith(str(target))}


def test_without_hard_links_a_name_is_claimed_before_it_is_given(tmp_path, monkeypatch):
    """FAT and some network shares have no hard links: the name is taken with O_EXCL, then
    the file renamed onto it; a name already taken is still left as it is."""

    def no_links(source, target):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with atomic_write(tmp_path / "new.txt", "w", overwrite=False) as handle:
        handle.write("written")
    assert (tmp_path / "new.txt").read_text() == "written"
    with pytest.raises(WriteError, match="appeared while this command ran"):
        with atomic_write(tmp_path / "new.txt", "w", overwrite=False) as handle:
            handle.write("again")
    assert (tmp_path / "new.txt").read_text() == "written"
    assert [path.name for path in tmp_path.iterdir()] == ["new.txt"]


# --- 3. predict checks every field of metrics.json it reads against the run's spec -----------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders trained once for the module: normalised by the spec, normalize: auto, none
    (TINY), on the user's image folder, and on colour images."""
    folders = {}
    for name, text in {"stats": TINY_NORMALIZED, "auto": TINY_AUTO, "plain": TINY, "colours": TINY_COLOURS}.items():
        folders[name] = trained(tmp_path_factory.mktemp(name), text)
    root = tmp_path_factory.mktemp("folder")
    photos = image_folder(root / "photos", ("cats", "dogs"), per_class=6)
    folders["folder"] = trained(root, TINY_FOLDER, "--data", str(photos))
    return folders


def forged(runs: dict[str, Path], folder: Path, run: str, change: Callable[[dict], object]) -> Path:
    """A copy of a run folder whose metrics.json ``change`` has edited."""
    copy = folder / "forged"
    shutil.copytree(runs[run], copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    change(metrics)
    (copy / "metrics.json").write_text(json.dumps(metrics))
    return copy


FORGERIES = {  # the run, the edit, the field the refusal names
    "std-0": ("stats", lambda m: m["normalization"].update(std=[0]), "normalization"),
    "std-negative": ("stats", lambda m: m["normalization"].update(std=[-0.5]), "normalization"),
    "std-1e-30-auto": ("auto", lambda m: m["normalization"].update(std=[1e-30]), "normalization.std"),
    "mean-beyond-pixels-auto": ("auto", lambda m: m["normalization"].update(mean=[7.0]), "normalization.mean"),
    "normalization-of-two-channels": ("auto", lambda m: m["normalization"].update(std=[0.2, 0.2]), "normalization"),
    "normalization-auto-as-text": ("stats", lambda m: m.update(normalization="auto"), "normalization"),
    "normalization-empty": ("stats", lambda m: m.update(normalization={}), "normalization"),
    "normalization-where-the-spec-has-none": (
        "plain",
        lambda m: m.update(normalization={"mean": [0.5], "std": [0.5], "from": "spec"}),
        "normalization",
    ),
    "normalization-from-the-spec-for-auto": ("auto", lambda m: m["normalization"].update({"from": "spec"}), "from"),
    "five-classes-for-two": ("plain", lambda m: m.update(classes=list("abcde")), "classes"),
    "classes-as-text": ("plain", lambda m: m.update(classes="abc"), "classes"),
    "one-class-for-two": ("plain", lambda m: m.update(classes=["parallel"]), "classes"),
    "column-as-a-list": ("plain", lambda m: m.update(column=["torch"]), "column"),
    "unknown-column": ("plain", lambda m: m.update(column="mxnet"), "column"),
    "unknown-backend-of-an-older-run": ("plain", lambda m: m.pop("column") and m.update(backend="mxnet"), "backend"),
    "data-without-a-source": ("plain", lambda m: m.update(data="/tmp"), "data"),
    "input-shape-with-text": ("plain", lambda m: m.update(input_shape=[1, 5, "5"]), "input_shape"),
    "input-shape-of-another-model": ("plain", lambda m: m.update(input_shape=[1, 6, 6]), "input_shape"),
    "folder-input-shape-of-colour": ("folder", lambda m: m.update(input_shape=[3, 5, 5]), "input_shape"),
    "folder-classes-twice": ("folder", lambda m: m.update(classes=["cats", "cats"]), "classes"),
    "folder-three-classes-for-one-output": ("folder", lambda m: m.update(classes=["a", "b", "c"]), "classes (3)"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_forged_metrics_json_is_refused_naming_the_field(tmp_path, runs, name):
    run, change, field = FORGERIES[name]
    folder = forged(runs, tmp_path, run, change)
    grey_png(tmp_path / "a.png")
    before = snapshot(tmp_path)
    assert_refused(run_cli(tmp_path, "predict", str(folder), str(tmp_path / "a.png")), ["metrics.json", field])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "label, text",
    [
        ("nested-100000-deep", '{"classes": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("nan-literal", '{"classes": ["parallel", "diagonal"], "normalization": {"std": [NaN]}}'),
        ("a-list", "[1, 2, 3]"),
    ],
)
def test_a_metrics_json_that_is_no_object_of_numbers_is_refused(tmp_path, runs, label, text):
    folder = tmp_path / "forged"
    shutil.copytree(runs["plain"], folder)
    (folder / "metrics.json").write_text(text)
    grey_png(tmp_path / "a.png")
    assert_refused(run_cli(tmp_path, "predict", str(folder), str(tmp_path / "a.png")), [str(folder / "metrics.json")])


def test_an_untouched_run_still_predicts(tmp_path, runs):
    for name in ("stats", "auto", "folder"):
        done = run_here("predict", str(runs[name]), str(grey_png(tmp_path / "a.png")))
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 2


# --- 4. what came from a file or a path is printed as one visible line ------------------------------


def test_predict_prints_a_file_name_with_a_forged_result_line_escaped(tmp_path, runs):
    image = grey_png(tmp_path / "a.png")
    forger = shutil.copy(image, tmp_path / "x\nfake.png: parallel  (parallel 1.000).png")
    done = run_here("predict", str(runs["plain"]), str(image), str(forger))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and "\x1b" not in done.stdout
    assert lines[2].startswith(str(tmp_path / "x\\nfake.png: parallel  (parallel 1.000).png: "))


def test_class_names_from_folders_are_escaped_in_the_summary_and_by_predict(tmp_path):
    photos = image_folder(tmp_path / "photos", ("cats", "dogs\x1b[2J\nerror: fake"), per_class=6)
    run = trained(tmp_path, TINY_FOLDER, "--data", str(photos))
    done = run_here("predict", str(run), str(grey_png(tmp_path / "a.png")))
    assert done.returncode == 0, done.stderr
    assert "dogs\\x1b[2J\\nerror: fake" in done.stdout and "\x1b" not in done.stdout
    assert len(done.stdout.splitlines()) == 2
    spec = spec_file(tmp_path, TINY_FOLDER)
    summary = run_here("train", "--model", str(spec), "--data", str(photos), "--quiet", "--out", str(tmp_path / "2"))
    assert summary.returncode == 0, summary.stderr
    assert "dogs\\x1b[2J\\nerror: fake: " in summary.stdout and "\x1b" not in summary.stdout


def test_a_title_written_with_yaml_escapes_and_an_out_path_are_printed_escaped(tmp_path):
    spec = tiny(tmp_path, "title: a tiny model", 'title: "\\e[2J\\nerror: fake"')
    out = tmp_path / "run\x1b[2J\nwrote everything"
    done = run_here("train", "--model", str(spec), "--epochs", "1", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert done.stdout.splitlines()[0].startswith("training tiny (\\x1b[2J\\nerror: fake) with torch")
    assert f"wrote {tmp_path}/run\\x1b[2J\\nwrote everything/: metrics.json" in done.stdout


def test_a_refused_image_name_is_one_escaped_line(tmp_path, runs):
    assert_refused(run_cli(tmp_path, "predict", str(runs["plain"]), "gone\x1b[2J\n.png"), ["gone\\x1b[2J\\n.png"])


# --- 5. FIFOs and devices among the inputs: refused with what they are, never read ------------------


def with_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_fifo_in_an_image_folder_is_refused_not_waited_for(tmp_path):
    photos = image_folder(tmp_path / "photos")
    fifo = with_fifo(photos / "cats" / "x.png")
    done = run_cli(tmp_path, "train", "--model", "lenet_lazy", "--data", str(photos))
    assert_refused(done, [str(fifo), "FIFO"])


def test_a_link_to_a_device_in_an_image_folder_is_refused(tmp_path):
    photos = image_folder(tmp_path / "photos")
    (photos / "dogs" / "zero.png").symlink_to("/dev/zero")
    done = run_cli(tmp_path, "train", "--model", "lenet_lazy", "--data", str(photos))
    assert_refused(done, [str(photos / "dogs" / "zero.png"), "character device"])


@pytest.mark.parametrize("given", ["spec", "init-from", "mnist", "metrics", "image"])
def test_a_fifo_given_as_an_input_is_refused_by_what_it_is(tmp_path, runs, given):
    fifo = with_fifo(tmp_path / {"spec": "s.yaml", "mnist": "mnist.npz", "image": "a.png"}.get(given, "w.npz"))
    args = {
        "spec": ["show", str(fifo)],
        "init-from": ["train", "--model", "relu", "--init-from", str(fifo)],
        "mnist": ["train", "--model", "mnist_cnn", "--data", str(fifo)],
        "image": ["predict", str(runs["plain"]), str(fifo)],
    }
    if given == "metrics":
        folder = tmp_path / "run"
        shutil.copytree(runs["plain"], folder)
        (folder / "metrics.json").unlink()
        os.mkfifo(folder / "metrics.json")
        fifo = folder / "metrics.json"
        args["metrics"] = ["predict", str(folder), str(grey_png(tmp_path / "a.png"))]
    before = snapshot(tmp_path)
    assert_refused(run_cli(tmp_path, *args[given]), [str(fifo), "FIFO"])
    assert snapshot(tmp_path) == before


def test_predict_passes_over_a_fifo_inside_a_folder(tmp_path, runs):
    images = tmp_path / "images"
    images.mkdir()
    grey_png(images / "a.png")
    with_fifo(images / "b.png")
    done = run_here("predict", str(runs["plain"]), str(images))
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()[1:]] == [str(images / "a.png")]


# --- 6. names that are not UTF-8, and streams that cannot show every character ----------------------

LATIN1 = os.fsdecode(b"caf\xe9")  # a Latin-1 name, as old photo archives hold them


def test_an_image_folder_with_latin1_names_trains(tmp_path):
    photos = image_folder(tmp_path / "photos", ("cats", LATIN1), per_class=6)
    for image in (photos / "cats").iterdir():
        image.rename(image.with_name(LATIN1 + image.name))
    spec = spec_file(tmp_path, TINY_FOLDER)
    done = run_here("train", "--model", str(spec), "--data", str(photos), "--quiet", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "caf\\udce9: " in done.stdout


def test_predict_prints_names_its_stream_cannot_encode(tmp_path, runs):
    """``PYTHONIOENCODING=ascii`` and a unicode name; ``utf-8`` and a name that is not UTF-8."""
    unicode, latin1 = grey_png(tmp_path / "é.png"), grey_png(tmp_path / f"{LATIN1}.png")
    for encoding, image, shown in (("ascii", unicode, "\\xe9.png: "), ("utf-8", latin1, "caf\\udce9.png: ")):
        done = run_python("run.py", "predict", str(runs["plain"]), str(image), env={"PYTHONIOENCODING": encoding})
        assert done.returncode == 0, done.stderr
        assert shown in done.stdout.splitlines()[1]


def test_an_out_path_that_is_not_utf8_is_printed_and_exits_0(tmp_path):
    out = tmp_path / LATIN1
    spec = spec_file(tmp_path)
    args = ["--model", str(spec), "--epochs", "1", "--quiet", "--out", str(out)]
    done = run_python("run.py", *args, env={"PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"wrote {tmp_path}/caf\\udce9/: ")
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_a_title_holding_a_lone_surrogate_is_shown(tmp_path, encoding):
    spec = tiny(tmp_path, "title: a tiny model", 'title: "\\ud800 caf\\xe9"')
    done = run_python("run.py", "show", str(spec), env={"PYTHONIOENCODING": encoding})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("# tiny: \\ud800 caf")


# --- 7. spec values the frameworks cannot take: refused at their line, or a divergence --------------

SPEC_VALUES = {  # TINY edited, the line and what the message names
    "dropout-p-1": (
        ("    - {relu: {name: act}}", "    - {relu: {name: act}}\n    - {dropout: {name: drop, p: 1.0}}"),
        ["spec.yaml:13:", "dropout.p", "[0, 1)"],
    ),
    "dropout-p-1-in-float32": (
        ("    - {relu: {name: act}}", "    - {relu: {name: act}}\n    - {dropout: {name: drop, p: 0.99999999999}}"),
        ["spec.yaml:13:", "dropout.p", "float32"],
    ),
    "lr-beyond-float32": (("lr: 0.1", "lr: 1.0e+300"), ["spec.yaml:17:", "lr", "float32"]),
    "adam-eps-0-in-float32": (("{sgd: {lr: 0.1}}", "{adam: {eps: 1.0e-300}}"), ["spec.yaml:17:", "eps", "float32"]),
    "std-0-in-float32": (
        ("  batch_size: 8", "  normalize: {mean: [0.5], std: [1.0e-46]}\n  batch_size: 8"),
        ["spec.yaml:6:", "std", "float32"],
    ),
    "batchnorm-on-1x1-maps-in-batches-of-1": (
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: conv, filters: 2, kernel: 5}}\n    - {batchnorm: {name: bn}}\n"
            "    - {flatten: {name: flatten}}",
        ),
        ["spec.yaml:11:", "batchnorm 'bn'", "batches of 1"],
    ),
}


@pytest.mark.parametrize("name", sorted(SPEC_VALUES))
def test_a_spec_value_the_frameworks_cannot_take_is_refused_at_its_line(tmp_path, name):
    (old, new), names = SPEC_VALUES[name]
    text = TINY.replace(old, new)
    if name.startswith("batchnorm"):
        text = text.replace("batch_size: 8", "batch_size: 1")
    spec = spec_file(tmp_path, text)
    assert text != TINY
    before = snapshot(tmp_path)
    assert_refused(run_cli(tmp_path, "train", "--model", str(spec)), names)
    assert snapshot(tmp_path) == before


# JAX's bce clips the probabilities as Keras' does, and the clip's gradient is zero where it
# clips: this spec's weights stop at about 1e37, its loss at 6.5, and no NaN ever comes. The
# diverging cnn1 of test_bad_input is the jax column's divergence. Keras on JAX and on torch
# clip too (1e-7): their sigmoid's output carries no logits, which on TensorFlow Keras' bce
# takes instead of the clipped probabilities; both end this spec at a loss of 6.4766.
@pytest.mark.parametrize("backend", [name for name in SESSION if name != "jax"])
def test_a_sigmoid_bce_model_that_diverges_ends_as_one_line(tmp_path, backend):
    """torch's BCELoss raised on NaN probabilities before the divergence check could run."""
    spec = tiny(tmp_path, "lr: 0.1", "lr: 1.0e+30")
    line, before = refused_here(tmp_path, "train", "--backend", backend, "--model", str(spec), "--epochs", "20")
    assert line.startswith("error: epoch ") and "nan" in line and "training diverged" in line
    assert snapshot(tmp_path) == before


# --- 8. a full disk while saving: one line naming the user's --out ----------------------------------


@pytest.mark.parametrize("backend", SESSION)  # the column's modules, loaded here
def test_a_native_model_file_that_cannot_be_written_is_one_error_naming_it(tmp_path, backend):
    """torch's zip writer fails with a RuntimeError, TensorFlow's SavedModel with an OpError:
    each is a ``WriteError`` naming the file, the reason on the same line."""
    model = load_spec(spec_file(tmp_path, BIG)).model
    weights = columns.load(backend, "forward").initial_weights(model)
    native = columns.load(backend, "weights")
    path = tmp_path / native.NATIVE_FILE
    with file_size_limit(100_000), pytest.raises(WriteError) as refused:
        native.save_native_model(model, weights, path)
    assert refused.value.path == path
    assert str(refused.value).startswith(f"cannot write {path}: ") and "\n" not in str(refused.value)
    sent = pickle.loads(pickle.dumps(refused.value))  # as a worker (Keras on JAX, on torch) sends it back
    assert (type(sent), sent.path, sent.reason, str(sent)) == (
        WriteError,
        path,
        refused.value.reason,
        str(refused.value),
    )


def test_a_run_that_cannot_be_written_names_the_out_folder_not_its_staging_copy(tmp_path):
    spec = spec_file(tmp_path, BIG)
    out = tmp_path / "run"
    before = snapshot(tmp_path)
    with file_size_limit(100_000):  # loss.png fits, weights.npz does not
        line, _ = refused_here(tmp_path, "train", "--model", str(spec), "--epochs", "1", "--quiet", "--out", str(out))
    assert line == f"error: cannot write {out / 'weights.npz'}: File too large"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["export", "report"])
def test_a_single_output_that_cannot_be_written_is_one_line(tmp_path, command):
    spec = spec_file(tmp_path, BIG)
    out = tmp_path / ("w.npz" if command == "export" else "r.html")
    args = {
        "export": ["export", "--model", str(spec), "--weights", str(out)],
        "report": ["report", str(spec), "--backends", "torch", "--epochs", "1", "--quiet", "--out", str(out)],
    }[command]
    before = snapshot(tmp_path)
    with file_size_limit(100_000):
        line, _ = refused_here(tmp_path, *args)
    assert line == f"error: cannot write {out}: File too large"
    assert snapshot(tmp_path) == before


@pytest.fixture
def nearly_full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (root only), filled to 1.55 MB."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        (disk / "filler").write_bytes(bytes(1_550_000))
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # even while a failed writer holds a file


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
@pytest.mark.parametrize("backend", SESSION)  # the others' worker sends its WriteError back whole (pickled, above)
def test_a_disk_that_fills_up_at_the_native_file_is_one_line_naming_out(tmp_path, nearly_full_disk, backend):
    """The issue's reproduction: room for loss.png and weights.npz (400 KB), not for the
    framework's own file of the same weights."""
    spec = spec_file(tmp_path, BIG)
    out = nearly_full_disk / "run"
    before = snapshot(nearly_full_disk)
    args = ("train", "--backend", backend, "--model", str(spec), "--epochs", "1", "--quiet", "--out", str(out))
    line, _ = refused_here(tmp_path, *args)
    native = columns.load(backend, "weights").NATIVE_FILE
    assert line.startswith(f"error: cannot write {out / native}: ")
    assert snapshot(nearly_full_disk) == before


# --- 10. closed pipes, full streams, a deleted working folder, an unknown matplotlib backend --------


@pytest.mark.parametrize("args", [["show", "cnn2"], ["list"], ["show", "lenet", "--backend", "tf"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, args):
    """``run.py show cnn2 | head``: status 141, as a process killed by SIGPIPE, and no traceback."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    process.stdout.close()  # before the interpreter has started: every write finds no reader
    assert process.wait(timeout=60) == 128 + signal.SIGPIPE
    assert process.stderr.read() == b""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["show", "cnn2"], ["train", "--model", "{spec}"], ["compare", "--model", "{spec}"]])
def test_a_full_standard_output_is_one_line_and_nothing_written(tmp_path, args):
    spec = spec_file(tmp_path)
    before = snapshot(tmp_path)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", CLI, *[str(spec) if arg == "{spec}" else arg for arg in args]],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == ["error: cannot write the standard output: No space left on device"]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "args", [["train", "--model", "relu"], ["train", "--model", "relu", "--out", "{abs}"], ["list"]]
)
def test_a_deleted_working_folder_is_one_line(tmp_path, args):
    gone = tmp_path / "gone"
    gone.mkdir()
    args = [str(tmp_path / "run") if arg == "{abs}" else arg for arg in args]
    script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(gone), sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert_refused(done, [str(gone), "working folder no longer exists"])
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_matplotlib_backend_still_writes_the_run(tmp_path):
    spec = spec_file(tmp_path)
    args = ["--model", str(spec), "--epochs", "1", "--quiet", "--out", "run"]
    done = run_python(str(ROOT / "run.py"), *args, cwd=tmp_path, env={"MPLBACKEND": "nonexistent"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "loss.png").is_file()


# --- 11. one line, not the noise of PIL, Lightning or a second Ctrl-C -------------------------------


def huge_png(path: Path, width: int = 10_000, height: int = 10_000) -> Path:
    """A grey PNG that claims ``width`` x ``height`` pixels in its header (PIL's guard reads
    the header: no need to compress 100 MB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def test_an_image_past_pils_bomb_limit_is_one_line_without_its_warning(tmp_path, runs):
    image = huge_png(tmp_path / "huge.png")
    done = run_cli(tmp_path, "predict", str(runs["plain"]), str(image))
    assert_refused(done, [str(image), "too large"])
    assert "DecompressionBomb" not in done.stderr


def test_an_image_past_pils_bomb_limit_in_an_image_folder_is_one_line(tmp_path):
    photos = image_folder(tmp_path / "photos")
    image = huge_png(photos / "dogs" / "huge.png")
    done = run_cli(tmp_path, "train", "--model", "lenet_lazy", "--data", str(photos))
    assert_refused(done, [str(image), "too large"])
    assert "DecompressionBomb" not in done.stderr


@pytest.mark.parametrize("run", ["plain", "colours"])
def test_a_16_bit_grey_image_is_called_16_bit_not_colour(tmp_path, runs, run):
    image = tmp_path / "deep.png"
    Image.fromarray(np.full((5, 5), 4000, np.uint16)).save(image)
    line = assert_refused(run_cli(tmp_path, "predict", str(runs[run]), str(image)), [str(image), "I;16 pixels"])
    assert "colour" not in line


@pytest.mark.parametrize(
    "backend, signals, status",
    [
        ("lightning", [signal.SIGTERM], 143),
        ("torch", [signal.SIGINT] * 3, 130),
        ("lightning", [signal.SIGINT] * 3, 130),
        ("torch", [signal.SIGTERM, signal.SIGINT, signal.SIGTERM], 143),
    ],
)
def test_signals_end_in_one_line_whatever_follows_them(tmp_path, backend, signals, status):
    """Lightning's SIGTERM notice, and a traceback (or death by SIGINT) from a second Ctrl-C
    landing in the shutdown handlers, were printed besides "interrupted"."""
    done = interrupt(tmp_path, backend, signals)
    assert done.returncode == status, done.stderr
    assert done.stderr.splitlines() == ["interrupted; nothing was written"]
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_that_lands_in_a_collectors_callback_is_raised_again_after_it(tmp_path):
    """JAX registers a garbage collector's callback: a Ctrl-C handled while it runs was raised
    inside it, printed as a traceback and lost, and the run went on with Ctrl-C ignored."""
    script = tmp_path / "collect.py"
    script.write_text(
        textwrap.dedent(
            """\
            import gc, os, signal, time
            import run

            signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's job takes it
            run._interrupt_once()

            def callback(phase, info):
                if phase == "start":
                    os.kill(os.getpid(), signal.SIGINT)  # handled at the callback's next step
                    sum(range(10))

            gc.callbacks.append(callback)
            try:
                gc.collect()
                gc.callbacks.remove(callback)
                time.sleep(30)
                print("not interrupted")
            except KeyboardInterrupt:
                print("interrupted after the collection")
            """
        )
    )
    done = run_python(str(script), cwd=tmp_path, timeout=60)
    assert (done.stdout, done.stderr, done.returncode) == ("interrupted after the collection\n", "", 0)
