"""The lecture commands as a lecturer runs them: show, compare, report, and parity's
lockstep and matrix views. Real output, files on disk. show, compare and report run in
fresh processes, as a lecturer starts them (compare and report load every column, both
families, in the command's own order); the lockstep and parity views, whose subject is
their figures, run ``run.py`` in this process."""

from __future__ import annotations

import html
import json
import re

from conftest import run_here, run_python
from test_html_report import probe_page

from common import columns
from common.parity.stats import LOCKSTEP_K
from common.present.tables import parity_matrix
from spec import SPEC_DIR

NAMES = columns.defaults()  # what compare, report and parity run by default (all: every registered column)


def test_show_prints_each_frameworks_listing():
    torch_done = run_python("run.py", "show", "cnn1", "--backend", "torch")
    keras_done = run_python("run.py", "show", "cnn1", "--backend", "keras")
    assert torch_done.returncode == keras_done.returncode == 0, torch_done.stderr + keras_done.stderr
    assert 'model.add_module("conv1", nn.Conv2d(in_channels=1, out_channels=1, kernel_size=3))' in torch_done.stdout
    assert 'layers.Conv2D(1, kernel_size=3, name="conv1"' in keras_done.stdout
    assert "model.compile(" in keras_done.stdout and "model.fit(" in keras_done.stdout
    compile(torch_done.stdout, "torch listing", "exec")
    compile(keras_done.stdout, "keras listing", "exec")


def test_show_refuses_an_unknown_model_in_one_line():
    done = run_python("run.py", "show", "nope")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: unknown model 'nope' (choose from: " + ", ".join(sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))) + ")"
    ]


def test_compare_trains_every_column_and_writes_the_overlay(tmp_path):
    out = tmp_path / "compare"
    done = run_python("run.py", "compare", "--model", "relu", "--epochs", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    progress = [line.split()[0:3] for line in lines if line.startswith("[")]
    assert progress == [[f"[{name}]", "epoch", f"{epoch}/2"] for name in NAMES for epoch in (1, 2)]
    assert re.search(r"^epoch +" + " +".join(NAMES), done.stdout, re.MULTILINE)
    assert re.search(r"^ +2 +\d\.\d{4} +\d\.\d{4} +\d+\.\d\d% +\d\.\d{4}", done.stdout, re.MULTILINE)
    assert re.search(r"^parameters" + " +143" * len(NAMES) + "$", done.stdout, re.MULTILINE)
    figures = json.loads((out / "compare.json").read_text())
    assert (figures["model"], figures["mode"]) == ("relu", "native")
    backends = figures["columns"]
    assert list(backends) == NAMES
    assert backends["torch"]["layout"] == backends["lightning"]["layout"] == "nchw"
    assert backends["keras"]["layout"] == "nhwc"
    assert len(backends["torch"]["train_loss"]) == len(backends["keras"]["val_loss"]) == 2
    assert backends["lightning"]["train_loss"] == backends["torch"]["train_loss"]  # the same run, natively too
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "loss.png"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_in_lockstep_says_it_is_the_same_run_and_quiet_is_quiet(tmp_path):
    out = tmp_path / "compare"
    # two epochs: chapter 5's counts after all twenty, in every column, are test_lockstep's
    done = run_here("compare", "--model", "cnn1", "--mode", "lockstep", "--epochs", "2", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert not any(f"[{name}]" in done.stdout for name in NAMES)
    up = re.search(r"^  up((?: +\d+/\d+)+)$", done.stdout, re.MULTILINE).group(1).split()
    assert len(up) == len(NAMES) and len(set(up)) == 1, up  # one count, in every column
    assert "measuring the noise floor: torch again, with round-off injected at every step" in done.stdout
    line = next(line for line in done.stdout.splitlines() if line.startswith("lockstep keras vs torch:"))
    assert "per-class counts equal" in line and line.endswith("of the bound: the same run")
    lockstep = json.loads((out / "compare.json").read_text())["lockstep"]
    keras = lockstep["columns"]["keras"]
    assert lockstep["reference"] == "torch" and keras["passed"] and keras["verdict"] == "passed"
    assert keras["max_rel_loss_diff"] <= keras["loss_bound"] and keras["max_rel_weight_diff"] <= keras["weight_bound"]
    assert keras["loss_bound"] == LOCKSTEP_K * max(keras["floor_rel_loss_diff"], keras["min_floor"])
    assert keras["min_floor"] == 2**-24 * 4  # sqrt(16): cnn1's longest sum, fc1's 16 inputs
    assert lockstep["columns"]["lightning"]["max_rel_loss_diff"] == 0  # Lightning's is torch's run, bit for bit


def test_report_renders_offline_with_every_section(tmp_path):
    page = tmp_path / "cnn1.html"
    done = run_python("run.py", "report", "cnn1", "--epochs", "2", "--quiet", "--out", str(page))
    assert done.returncode == 0, done.stderr
    assert f"wrote {page}" in done.stdout
    text = page.read_text(encoding="utf-8")
    headings = [html.unescape(h) for h in re.findall(r"<h[23][^>]*>([^<]*)</h[23]>", text)]
    assert headings == [
        "The spec",
        "The code",
        "The data",
        "Training",
        "Parity",
        "What the models learned",
        "Filters of conv1",
        "Feature maps",
        "Feature space of fc1",  # 10 units, then relu2
        "Activation functions",
    ]
    assert "nn.Sequential()" in text and "keras.Sequential(" in text and "torch-nchw vs keras-nhwc" in text
    assert "class LitModel(pl.LightningModule):" in text and "torch-nchw vs lightning-nchw" in text
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)  # nothing fetched
    n_images = text.count("<img ")
    assert n_images == 4 + 3 * len(NAMES)  # samples, loss, confusion, activations; filters, maps and space each
    probe = probe_page(page, tmp_path, 1400)
    assert probe["IMAGES"] == f"{n_images}/{n_images}" and probe["COLUMNS"] == "side", probe


def test_report_refuses_a_folder_that_does_not_exist_before_training(tmp_path):
    done = run_python("run.py", "report", "cnn1", "--out", str(tmp_path / "missing" / "r.html"))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert "training" not in done.stdout


def test_report_says_in_one_line_when_it_cannot_write_the_page(tmp_path):
    done = run_python("run.py", "report", "logistic", "--epochs", "1", "--quiet", "--out", "/proc/report.html")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    # refused before training, as root too (access() says yes to root, a trial file does not)
    assert "--out /proc/report.html: cannot be written" in done.stderr and done.stdout == ""


def test_compare_in_lockstep_with_dropout_on(tmp_path):
    """Chapter 6's lesson, step for step: both frameworks train cnn2 with the same masks,
    and compare writes every training and validation curve on the same axes."""
    out = tmp_path / "compare"
    done = run_here("compare", "--model", "cnn2", "--mode", "lockstep", "--epochs", "1", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "per-class counts equal;" in done.stdout and "the same run" in done.stdout
    figures = json.loads((out / "compare.json").read_text())
    assert figures["lockstep"]["columns"]["keras"]["passed"]
    torch_run, keras_run = figures["columns"]["torch"], figures["columns"]["keras"]
    assert (torch_run["layout"], keras_run["layout"]) == ("nchw", "nhwc")
    assert len(torch_run["val_loss"]) == len(keras_run["val_loss"]) == 1
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parity_lockstep_json(tmp_path):
    report = tmp_path / "parity.json"
    args = ("--model", "relu", "--check", "lockstep", "--layout", "nhwc", "--backends", "torch,keras")
    done = run_here("parity", *args, "--json", str(report))
    assert done.returncode == 0, done.stderr
    figures = json.loads(report.read_text())
    lockstep = figures["lockstep"]["columns"]["keras"]
    assert set(lockstep["layouts"]) == {"nhwc"} and lockstep["per_class_equal"] and figures["passed"]
    nhwc = lockstep["layouts"]["nhwc"]
    assert nhwc["max_rel_loss_diff"] <= nhwc["loss_bound"] and nhwc["max_rel_weight_diff"] <= nhwc["weight_bound"]
    assert 0 < nhwc["floor_rel_loss_diff"] < 1e-3 and nhwc["floor_per_class_equal"] and nhwc["ratio"] <= 1
    assert lockstep["verdict"] == figures["verdict"] == "passed"


def test_parity_all_prints_the_matrix(tmp_path):
    report = tmp_path / "matrix.json"
    # two columns besides torch make a matrix; every spec's forward parity in every column is test_backends'
    done = run_here("parity", "--all", "--check", "forward", "--backends", "torch,lightning,tf", "--json", str(report))
    assert done.returncode == 0, done.stderr
    matrix = done.stdout[done.stdout.index("parity matrix") :]
    names = sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))
    others = ["lightning", "tf"]
    lines = matrix.splitlines()
    assert lines[1].split()[:2] == ["model", "column"]
    rows = [line.split()[:2] for line in lines[2 : 2 + len(names) * len(others)]]
    assert rows == [[name, column] for name in names for column in others]
    figures = json.loads(report.read_text())
    assert [m["model"] for m in figures["models"]] == names and figures["passed"] is True
    done = run_here("parity", "--all", "--model", "relu")
    assert done.returncode == 2 and "leave out --model" in done.stderr


def test_the_matrix_stays_aligned_whatever_the_names():
    """A spec's or a column's name longer than the header's words widens its column."""
    lockstep = {"nchw": {"chaotic": False, "ratio": 0.25, "passed": True}}
    reports = [
        {"model": name, "columns": [column], "lockstep": {"columns": {column: {"layouts": lockstep}}}}
        for name, column in (("mnist_cnn_slides", "jax"), ("cnn1", "keras-torch"))
    ]
    lines = parity_matrix(reports).splitlines()[2:5]
    assert [line.split()[:3] for line in lines[1:]] == [["mnist_cnn_slides", "jax", "-"], ["cnn1", "keras-torch", "-"]]
    ends = {line.rindex("0.25") + len("0.25") for line in lines[1:]}
    assert ends == {lines[0].index("lockstep nchw") + len("lockstep nchw")}  # right-aligned under its title
    assert len({len(line) for line in lines}) == 1
