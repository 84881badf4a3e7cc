"""The bad-input catalogue: hostile files and arguments, class by class.

Every case runs ``run.py`` in a fresh process, from a folder of its own, and asserts what
the README promises for bad input: exit status 2 (130 or 143 for signals), exactly one
line on stderr that names the file, line or argument, no traceback, and nothing left
behind: the folder holds exactly the files it held before, byte for byte, and the
dataset cache holds no temporary file. Cases that fail before training also prove that
no framework was imported: those checks come first.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SESSION, run_here, run_python
from PIL import Image

from common import columns
from common.data import cache
from common.data.datasets import GENERATORS
from common.errors import DataError
from common.files.atomic import write_json
from common.files.weights import save_weights
from common.present.source import escape_comment, string_literal
from spec import SPEC_DIR, load_spec
from spec.load import TORCH_ATTRIBUTES
from torch_impl.forward import initial_weights

# run.py as a user starts it, which then says whether a framework was imported
CLI = textwrap.dedent(
    """\
    import runpy, sys
    sys.argv = ["run.py", *sys.argv[1:]]
    try:
        runpy.run_path(%r, run_name="__main__")
    finally:
        print("FRAMEWORK" if "torch" in sys.modules or "tensorflow" in sys.modules else "NO FRAMEWORK")
    """
) % str(ROOT / "run.py")

TINY = textwrap.dedent(
    """\
    name: tiny
    title: a tiny model
    data:
      dataset: {kind: lines, img_size: 5, n_images: 40, binary: true, seed: 1}
      split: {fractions: [0.75, 0.25], seed: 2}
      batch_size: 8
    model:
      seed: 3
      layers:
        - {flatten: {name: flatten}}
        - {linear: {name: hidden, units: 4}}
        - {relu: {name: act}}
        - {linear: {name: output, units: 1}}
        - {sigmoid: {name: sigmoid}}
    train:
      loss: bce
      optimizer: {sgd: {lr: 0.1}}
      epochs: 2
      seed: 4
    """
)


@dataclass
class Case:
    args: list[str]
    names: list[str]  # what the one line of stderr must name
    framework: bool = False  # the run trains (or fails after the import) before it can tell
    env: dict = field(default_factory=dict)


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed) with a hash of its content (what is
    not a regular file, with its kind)."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                entries[str(path)] = "link:" + os.readlink(path)
            elif path.is_dir():
                entries[str(path)] = "dir"
            elif not path.is_file():  # a FIFO, a device, a socket: reading it could wait for ever
                entries[str(path)] = "special:" + stat.filemode(path.stat().st_mode)
            else:
                entries[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def cache_leftovers() -> list[str]:
    folder = Path(os.environ["TWINSPEC_CACHE"])
    return [p.name for p in folder.iterdir() if ".twinspec-" in p.name] if folder.exists() else []


def run_cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_python("-c", CLI, *args, cwd=cwd, env=env)


def assert_refused(done: subprocess.CompletedProcess, names: list[str], framework: bool = False) -> str:
    """Exit 2, one line on stderr naming ``names``, no traceback; returns the line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    if not framework:
        assert done.stdout.splitlines()[-1] == "NO FRAMEWORK", done.stdout
    return lines[0]


def spec_file(folder: Path, text: str = TINY, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def tiny(folder: Path, old: str, new: str, name: str = "spec.yaml") -> Path:
    assert old in TINY
    return spec_file(folder, TINY.replace(old, new), name)


def export(folder: Path, name: str = "w.npz", model: str = "relu") -> Path:
    """What ``run.py export`` writes, made in this process (torch is already imported)."""
    return save_weights(initial_weights(load_spec(SPEC_DIR / f"{model}.yaml").model), folder / name)


def write_mnist(path: Path, train_labels: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> Path:
    rng = np.random.default_rng(0)
    y_train = np.arange(40) % 10 if train_labels is None else train_labels
    y_test = np.arange(20) % 10 if test_labels is None else test_labels
    np.savez(
        path,
        x_train=rng.integers(0, 256, (len(y_train), 10, 12), dtype=np.uint8),
        y_train=y_train,
        x_test=rng.integers(0, 256, (len(y_test), 10, 12), dtype=np.uint8),
        y_test=y_test,
    )
    return path


def image_folder(root: Path, classes: tuple[str, ...] = ("cats", "dogs"), per_class: int = 4) -> Path:
    rng = np.random.default_rng(1)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


# --- corrupt .npz files: the zip's central directory and the npy header -------------------


def _central(data: bytearray) -> int:
    return data.index(b"PK\x01\x02")


def zip_version(data: bytearray) -> None:
    data[_central(data) + 6 : _central(data) + 8] = b"\xff\x00"  # version needed to extract: 25.5


def zip_encrypted(data: bytearray) -> None:
    data[_central(data) + 8] |= 1  # general purpose flags: encrypted


def zip_method(data: bytearray) -> None:
    data[_central(data) + 10 : _central(data) + 12] = b"\x63\x00"  # compression method 99


def npy_header(data: bytearray) -> None:
    start = data.index(b"\x93NUMPY") + 10
    assert data[start : start + 1] == b"{"
    data[start] = ord("[")  # the header's dict literal no longer parses


def truncated(data: bytearray) -> None:
    del data[len(data) // 2 :]


CORRUPTIONS = {"zip-version": zip_version, "zip-encrypted": zip_encrypted, "zip-method": zip_method}
CORRUPTIONS |= {"npy-header": npy_header, "truncated": truncated}


def corrupt(path: Path, how: Callable[[bytearray], None]) -> Path:
    data = bytearray(path.read_bytes())
    how(data)
    path.write_bytes(bytes(data))
    return path


def cached(spec_name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The dataset cache file of a shipped spec, written into a cache of this case's own."""
    monkeypatch.setenv("TWINSPEC_CACHE", str(folder / "cache"))
    dataset = load_spec(SPEC_DIR / f"{spec_name}.yaml").data.dataset
    params = dict(sorted(dataset.params.items()))
    key = cache.cache_key(dataset.kind, params)
    cache.load_or_create(key, lambda: dict(zip(("images", "labels"), GENERATORS[dataset.kind](**params))))
    return cache.cache_dir() / f"{key}.npz"


# --- the cases, by class of the catalogue -----------------------------------------------------

CASES: dict[str, Callable[[Path, pytest.MonkeyPatch], Case]] = {}


def case(name: str):
    def register(build: Callable[[Path, pytest.MonkeyPatch], Case]):
        assert name not in CASES
        CASES[name] = build
        return build

    return register


# 1. code injection: what a file name holds reaches the terminal as one line
for label, weird in {"newline": "a\nimport os\n", "carriage-return": "a\rb", "escape": "a\x1b[2Jb"}.items():

    @case(f"1-file-name-with-{label}")
    def _(tmp, mp, weird=weird):
        path = spec_file(tmp, "name: [unclosed\n", f"{weird}.yaml")
        return Case(["show", str(path)], [escape_comment(str(path)) + ":", "invalid YAML"])


# 2. YAML that would exhaust memory: aliases, huge files, huge values
def _laughs(depth: int, width: int = 10) -> str:
    lines = ["name: bomb", "a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    return "\n".join([*lines, f"title: *a{depth - 1}", ""])


case("2-billion-laughs")(lambda tmp, mp: Case(["show", str(spec_file(tmp, _laughs(9)))], ["spec.yaml:", "aliases"]))
case("2-laughs-under-title-shown-as-excerpt")(
    lambda tmp, mp: Case(["show", str(spec_file(tmp, _laughs(4)))], ["spec.yaml:6: title must be", "..."])
)
case("2-recursive-alias")(
    lambda tmp, mp: Case(["show", str(spec_file(tmp, "name: x\ntitle: &t [*t]\n"))], ["spec.yaml:2:", "alias"])
)
case("2-chained-aliases")(
    lambda tmp, mp: Case(
        [
            "show",
            str(spec_file(tmp, "\n".join(["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 5000)]))),
        ],
        ["spec.yaml:1:", "aliases expand"],
    )
)
case("2-spec-over-1-MB")(
    lambda tmp, mp: Case(["show", str(spec_file(tmp, TINY + "#" * 1_100_000))], ["spec.yaml:", "at most 1000000 bytes"])
)
case("2-huge-string-value-shown-as-excerpt")(
    lambda tmp, mp: Case(
        ["show", str(tiny(tmp, "name: tiny", "name: " + "x" * 500_000 + "!"))], ["spec.yaml:1:", "..."]
    )
)
case("2-deep-nesting")(
    lambda tmp, mp: Case(
        ["show", str(spec_file(tmp, "name: x\ntitle: " + "[" * 300 + "]" * 300 + "\n"))], [":2:", "deep"]
    )
)


# 3. user image folders: links, loops, duplicates, one class
@case("3-symlink-loop-in-class-folder")
def _(tmp, mp):
    root = image_folder(tmp / "photos")
    (root / "cats" / "again").symlink_to(root / "cats")
    return Case(["train", "--model", "lenet_lazy", "--data", str(root)], [str(root / "cats" / "again"), "loop"])


@case("3-class-folders-linked-to-one-folder")
def _(tmp, mp):
    root = image_folder(tmp / "photos")
    (root / "dogs2").symlink_to(root / "dogs")
    return Case(["train", "--model", "lenet_lazy", "--data", str(root)], [str(root / "dogs2"), "same folder"])


@case("3-one-image-linked-twice")
def _(tmp, mp):
    root = image_folder(tmp / "photos")
    (root / "dogs" / "copy.png").symlink_to(root / "cats" / "0.png")
    return Case(["train", "--model", "lenet_lazy", "--data", str(root)], [str(root / "dogs" / "copy.png"), "same file"])


@case("3-dangling-link")
def _(tmp, mp):
    root = image_folder(tmp / "photos")
    (root / "dogs" / "gone.png").symlink_to(tmp / "nowhere.png")
    return Case(["train", "--model", "lenet_lazy", "--data", str(root)], [str(root / "dogs" / "gone.png")])


@case("3-one-class-folder")
def _(tmp, mp):
    root = image_folder(tmp / "photos", ("cats",))
    return Case(["train", "--model", "lenet_lazy", "--data", str(root)], [str(root), "one class"])


# 4. overwrites, and outputs that are inputs
@case("4-export-over-an-existing-file")
def _(tmp, mp):
    return Case(["export", "--model", "relu", "--weights", str(export(tmp))], ["--weights", "--force"])


@case("4-export-over-the-spec-even-with-force")
def _(tmp, mp):
    path = spec_file(tmp)
    return Case(["export", "--model", str(path), "--weights", str(path), "--force"], ["--weights", "the spec"])


@case("4-report-over-an-existing-file")
def _(tmp, mp):
    (tmp / "r.html").write_text("an earlier report")
    return Case(["report", "relu", "--out", str(tmp / "r.html")], ["--out", "r.html", "--force"])


@case("4-report-over-the-spec")
def _(tmp, mp):
    path = spec_file(tmp)
    return Case(["report", str(path), "--out", str(path), "--force"], ["--out", "the spec"])


@case("4-parity-json-over-an-existing-file")
def _(tmp, mp):
    (tmp / "p.json").write_text("{}")
    return Case(["parity", "--model", "relu", "--json", str(tmp / "p.json")], ["--json", "--force"])


@case("4-parity-json-over-the-spec")
def _(tmp, mp):
    path = spec_file(tmp)
    return Case(["parity", "--model", str(path), "--json", str(path), "--force"], ["--json", "the spec"])


@case("4-train-out-is-the-init-weights")
def _(tmp, mp):
    weights = export(tmp)
    return Case(
        ["train", "--model", "relu", "--init-from", str(weights), "--out", str(weights)], ["--out", "--init-from"]
    )


@case("4-compare-out-inside-the-data-folder")
def _(tmp, mp):
    root = image_folder(tmp / "photos")
    out = root / "run"
    return Case(
        ["compare", "--model", "lenet_lazy", "--data", str(root), "--out", str(out)], ["--out", "inside --data"]
    )


# 5. numbers that are not finite reals, and degenerate data
for label, values in {
    "nan": np.array([np.nan]),
    "inf": np.array([-np.inf]),
    "beyond-float32": np.array([1e39]),
    "complex": np.array([1 + 2j]),
    "text": np.array(["0.5"]),
    "bool": np.array([True]),
}.items():

    @case(f"5-init-from-weights-{label}")
    def _(tmp, mp, values=values):
        with np.load(export(tmp, "good.npz")) as good:
            arrays = dict(good)
        arrays["hidden0/weight"] = np.resize(values, arrays["hidden0/weight"].shape)
        np.savez(tmp / "w.npz", **arrays)
        return Case(["train", "--model", "relu", "--init-from", str(tmp / "w.npz")], ["w.npz", "hidden0/weight"])


@case("5-last-batch-of-1-before-batchnorm")
def _(tmp, mp):
    path = tiny(tmp, "    - {relu: {name: act}}", "    - {batchnorm: {name: bn}}\n    - {relu: {name: act}}")
    path.write_text(path.read_text().replace("batch_size: 8", "batch_size: 29"))  # 30 training samples
    return Case(["train", "--model", str(path)], ["spec.yaml:12:", "batchnorm 'bn'", "batch_size at line 6"])


@case("5-one-class-from-cifar")
def _(tmp, mp):
    text = (SPEC_DIR / "fc_tanh.yaml").read_text()
    path = spec_file(tmp, text.replace("classes: [airplane, bird]", "classes: [bird]"))
    assert path.read_text() != text
    return Case(["show", str(path)], ["spec.yaml:", "two or more classes"])


@case("5-class-missing-from-training")
def _(tmp, mp):
    mnist = write_mnist(tmp / "mnist.npz", train_labels=np.arange(40) % 9)  # no 9 to learn
    return Case(["train", "--model", "mnist_cnn", "--data", str(mnist)], ["--data", "mnist.npz", "class '9'"])


# Not Keras on JAX and on torch: a case each would add some 14 s of a fresh interpreter
# starting Keras (keras-torch's run of it ends in the same line: its worker sends it back whole)
for backend in SESSION:

    @case(f"5-diverging-loss-{backend}")
    def _(tmp, mp, backend=backend):
        text = (SPEC_DIR / "cnn1.yaml").read_text()
        path = spec_file(tmp, text.replace("lr: 0.1}", "lr: 1.0e+30}"))
        assert path.read_text() != text
        args = ["train", "--backend", backend, "--model", str(path), "--epochs", "3", "--quiet"]
        return Case(args, ["epoch 1", "nan", "diverged"], framework=True)


# 6. readers: damaged .npz files, and another dataset's cache file
for label, how in CORRUPTIONS.items():

    @case(f"6-weights-{label}")
    def _(tmp, mp, how=how):
        weights = corrupt(export(tmp), how)
        return Case(["train", "--model", "relu", "--init-from", str(weights)], [str(weights), "weights file"])

    @case(f"6-mnist-{label}")
    def _(tmp, mp, how=how):
        mnist = corrupt(write_mnist(tmp / "mnist.npz"), how)
        return Case(["train", "--model", "mnist_cnn", "--data", str(mnist)], [str(mnist)])

    @case(f"6-dataset-cache-{label}")
    def _(tmp, mp, how=how):
        path = corrupt(cached("relu", tmp, mp), how)
        return Case(["train", "--model", "relu"], [str(path), "dataset cache"])


@case("6-dataset-cache-of-another-dataset")
def _(tmp, mp):
    other = cached("cnn1", tmp, mp)
    path = cached("relu", tmp, mp)
    shutil.copyfile(other, path)  # a valid file, with a valid checksum
    return Case(["train", "--model", "relu"], [str(path), "another dataset"])


# 7. names and characters that a backend would choke on; sizes that cannot fit
for name in ("forward", "training", "__class__", "_modules", "state_dict", "input_layer", "nchw_to_nhwc"):

    @case(f"7-layer-name-{name}")
    def _(tmp, mp, name=name):
        return Case(["show", str(tiny(tmp, "name: hidden", f"name: {name}"))], ["spec.yaml:11:", f"'{name}'"])


case("7-non-ascii-layer-name")(
    lambda tmp, mp: Case(["show", str(tiny(tmp, "name: hidden", "name: café"))], ["spec.yaml:11:", "ASCII"])
)
case("7-nul-byte")(lambda tmp, mp: Case(["show", str(tiny(tmp, "title: a", "title: \0a"))], ["spec.yaml:2:", "#x0000"]))
case("7-esc-byte")(
    lambda tmp, mp: Case(["show", str(tiny(tmp, "title: a", "title: \x1ba"))], ["spec.yaml:2:", "#x001b"])
)
case("7-absurd-n-images")(
    lambda tmp, mp: Case(
        ["show", str(tiny(tmp, "n_images: 40", "n_images: 100000000000"))], ["spec.yaml:4:", "need about", "TB"]
    )
)
case("7-absurd-img-size")(
    lambda tmp, mp: Case(["show", str(tiny(tmp, "img_size: 5", "img_size: 1000000"))], ["spec.yaml:4:", "need about"])
)
case("7-absurd-layer-width")(
    lambda tmp, mp: Case(
        ["show", str(tiny(tmp, "units: 4}", "units: 1000000000000}"))],
        ["spec.yaml:11:", "layer 'hidden'", "need about"],
    )
)


# 8. checks that come before any work
for command in (["train"], ["compare"], ["export", "--weights"], ["parity", "--json"], ["report", "--out"]):

    @case(f"8-unwritable-output-{command[0]}")
    def _(tmp, mp, command=command):
        (tmp / "afile").write_text("")
        target = str(tmp / "afile" / "sub" / "out")
        option = command[1] if len(command) > 1 else "--out"
        model = ["relu"] if command[0] == "report" else ["--model", "relu"]
        return Case([command[0], *model, option, target], [option, target, "not a folder"])


case("8-split-leaves-an-empty-part")(
    lambda tmp, mp: Case(
        ["train", "--model", str(tiny(tmp, "n_images: 40", "n_images: 2"))], ["spec.yaml:5:", "empty part"]
    )
)
case("8-split-error-in-compare")(
    lambda tmp, mp: Case(
        ["compare", "--model", str(tiny(tmp, "[0.75, 0.25]", "[0.99, 0.01]"))], ["spec.yaml:5:", "empty part"]
    )
)


# 10. work without bound
case("10-lockstep-epochs-from-the-command-line")(
    lambda tmp, mp: Case(
        ["train", "--model", "relu", "--mode", "lockstep", "--epochs", "100000000"], ["--epochs 100000000"]
    )
)
case("10-lockstep-epochs-from-the-spec")(
    lambda tmp, mp: Case(
        ["compare", "--model", str(tiny(tmp, "epochs: 2", "epochs: 100000000")), "--mode", "lockstep"],
        ["spec.yaml:18: train.epochs", "--mode native"],
    )
)
case("10-lockstep-report")(
    lambda tmp, mp: Case(["report", "relu", "--mode", "lockstep", "--epochs", "99999999"], ["--epochs 99999999"])
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, monkeypatch, name):
    built = CASES[name](tmp_path, monkeypatch)
    before, leftovers = snapshot(tmp_path), cache_leftovers()
    done = run_cli(tmp_path, *built.args)
    assert_refused(done, built.names, built.framework)
    assert snapshot(tmp_path) == before  # nothing written, nothing overwritten, no staging left
    assert cache_leftovers() == leftovers


# --- 1. code injection through show: listings parse to the same code, whatever the names --------


def hostile_spec(folder: Path, weird: str) -> Path:
    """relu, with ``weird`` in its file name and its title."""
    title = "title: Chapter 4 - deep model with ReLU activations"
    path = folder / f"{weird}.yaml"
    path.write_text((SPEC_DIR / "relu.yaml").read_text().replace(title, f"title: {json.dumps(weird + ' relu')}"))
    return path


def assert_same_code_but_the_path(source: str, plain: str, path: Path) -> None:
    """``source`` parses to ``plain``'s code; the names live in its header, three comment lines."""
    assert ast.dump(ast.parse(source)) == ast.dump(ast.parse(plain))
    head = source.splitlines()[:4]
    assert [line[:2] for line in head[:3]] == ["# "] * 3 and head[3] == ""
    assert escape_comment(path.name) in head[2]  # named, escaped, on its one comment line


@pytest.mark.parametrize("backend", columns.names())
@pytest.mark.parametrize("weird", ["x\nimport os; os.system('echo PWNED')\n", 'q"uo\\te\r', "bidi\u202e\u2028\x00"])
def test_listings_escape_file_names_and_titles(tmp_path, backend, weird):
    listing = columns.load(backend, "listing").listing
    path = hostile_spec(tmp_path, weird.replace("\x00", ""))  # no file name holds a NUL
    spec = load_spec(path)
    plain = listing(load_spec(SPEC_DIR / "relu.yaml"))
    assert_same_code_but_the_path(listing(spec), plain, path)
    titled = dataclasses.replace(spec, title=weird)  # a title can hold what YAML cannot
    assert_same_code_but_the_path(listing(titled), plain, path)


def test_show_prints_an_escaped_listing(tmp_path):
    path = hostile_spec(tmp_path, "x\nimport os; os.system('echo PWNED')\n")
    done = run_python("run.py", "show", str(path))
    assert done.returncode == 0, done.stderr
    assert_same_code_but_the_path(
        done.stdout, columns.load("torch", "listing").listing(load_spec(SPEC_DIR / "relu.yaml")), path
    )


@pytest.mark.parametrize(
    "text", ["plain", 'a "quote"', "back\\slash\\", "new\nline", "\0\x1b\x7f", "\udcff", "café ☕"]
)
def test_string_literal_reads_back_as_the_string(text):
    source = string_literal(text)
    assert source.startswith('"') and "\n" not in source and "\r" not in source
    assert ast.literal_eval(source) == text


# --- 3. the cache key covers exactly the files the loader reads ----------------------------------


def test_deleting_an_image_behind_a_linked_class_folder_changes_what_is_read(tmp_path):
    image_folder(tmp_path / "store")
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("cats", "dogs"):
        (root / name).symlink_to(tmp_path / "store" / name)
    count = (
        "from common.data.datasets import load_dataset, user_dataset; from spec import load_spec, resolve_spec;"
        f"spec = load_spec(resolve_spec('lenet_lazy')); print(len(load_dataset(user_dataset(spec.data.source, {str(root)!r})).labels))"
    )
    assert run_python("-c", count).stdout.split() == ["8"]
    (tmp_path / "store" / "dogs" / "0.png").unlink()
    assert run_python("-c", count).stdout.split() == ["7"]


# --- 5. strict JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_json_with_a_non_finite_figure_is_refused_and_not_written(tmp_path, value):
    with pytest.raises(DataError, match="not a finite number"):
        write_json(tmp_path / "m.json", {"val_loss": [0.5, value]})
    assert list(tmp_path.iterdir()) == []


# --- 5 and 11: degenerate data that can train is warned about, once; no torch warning ---------------


def test_a_class_missing_from_validation_is_one_warning_and_mnist_is_quiet(tmp_path):
    mnist = write_mnist(tmp_path / "mnist.npz", test_labels=np.arange(20) % 9)  # no 9 in the test set
    out = tmp_path / "run"
    done = run_python(
        "run.py", "--model", "mnist_cnn", "--data", str(mnist), "--epochs", "1", "--quiet", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: class '9' has no sample in the validation split: its accuracy is not measured"
    ]  # and not torch's "The given NumPy array is not writable"
    assert json.loads((out / "metrics.json").read_text())["per_class"][9] == [0, 0]


# --- 7. the reserved names follow the installed torch ----------------------------------------------


def test_every_attribute_of_nn_sequential_is_a_reserved_layer_name():
    from torch import nn

    public = {name for name in dir(nn.Sequential()) if not name.startswith("_")}
    assert public <= TORCH_ATTRIBUTES, sorted(public - TORCH_ATTRIBUTES)


# --- 4: --force does overwrite ----------------------------------------------------------------------


def test_force_overwrites_an_output(tmp_path):
    weights = export(tmp_path, model="logistic")
    done = run_here("export", "--model", "relu", "--weights", str(weights), "--force")
    assert done.returncode == 0, done.stderr
    with np.load(weights) as written:
        assert "hidden0/weight" in written.files


# --- 9. signals, and what killed runs left behind ---------------------------------------------------


def interrupt(tmp_path: Path, backend: str, signals: list[int], gap: float = 0.001) -> subprocess.CompletedProcess:
    """Train ``backend`` into ``tmp_path / "run"`` until its second epoch, then send
    ``signals``, ``gap`` seconds apart (a finger on Ctrl-C sends several)."""
    # A shell's background job (as CI may start this suite) inherits SIGINT ignored, and
    # Python keeps it so; a user's terminal does not: Python's own handler, as there.
    start = "import signal, runpy, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
    start += f"sys.argv = ['run.py'] + sys.argv[1:]; runpy.run_path({str(ROOT / 'run.py')!r}, run_name='__main__')"
    args = ["--backend", backend, "--model", "relu", "--epochs", "100000", "--out", str(tmp_path / "run")]
    process = subprocess.Popen(
        [sys.executable, "-c", start, *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith(f"[{backend}] epoch") and " 2/100000 " in line:
            break
    for sig in signals:
        process.send_signal(sig)
        time.sleep(gap)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_training_exits_cleanly_and_writes_nothing(tmp_path, sig, status):
    done = interrupt(tmp_path, "torch", [sig])
    assert done.returncode == status
    assert done.stderr.strip().splitlines() == ["interrupted; nothing was written"]
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_dead_processes_are_cleared_and_live_ones_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(dead.stdout)
    stale_file = tmp_path / f".w.npz.twinspec-{pid}-abc123.tmp"
    stale_dir = tmp_path / f".run.twinspec-{pid}-xyz_9"
    live = tmp_path / f".w.npz.twinspec-{os.getpid()}-live12.tmp"
    stale_file.write_bytes(b"half a file")
    stale_dir.mkdir()
    (stale_dir / "metrics.json").write_text("{")
    live.write_bytes(b"being written")
    done = run_python("run.py", "export", "--model", "relu", "--weights", str(tmp_path / "w.npz"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "w.npz"])
