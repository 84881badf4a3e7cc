"""run.py as users call it: real output, exit statuses, files written. Fresh processes,
but for the runs whose subject is only what they write (``run_here``)."""

import json

import pytest
from conftest import ELSEWHERE, run_here, run_python

from common import columns
from common.threads import THREAD_VARIABLES
from spec import SPEC_DIR, resolve_spec

KEYS = {
    "column",
    "model",
    "layout",
    "mode",
    "epochs",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "per_class",
    "params",
    "seconds",
}


def test_list_shows_every_spec_with_its_title():
    done = run_python("run.py", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))
    assert "Chapter 4 - logistic regression" in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--backend", "flax"],
            "invalid choice: 'flax' (choose from 'torch', 'lightning', 'keras', 'tf', 'jax', 'keras-jax', 'keras-torch')",
        ),
        (
            ["--model", "nope"],
            "unknown model 'nope' (choose from: " + ", ".join(sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))),
        ),
        (["--epochs", "0"], "expected a positive integer, got '0'"),
        (["--seed", "-1"], "expected a seed from 0 to 2**32 - 1, got '-1'"),
        (["--seed", "4294967296"], "expected a seed from 0 to 2**32 - 1"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, message):
    done = run_python("run.py", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr


def test_malformed_spec_gives_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntitle: [unclosed\n")
    done = run_python("run.py", "--model", str(path), "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}:3: invalid YAML" in done.stderr or f"{path}:2: invalid YAML" in done.stderr
    assert not (tmp_path / "run").exists()


def _imported(stderr: str) -> set[str]:
    """The modules ``python -X importtime`` reports as imported."""
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


HEAVY = {"torch", "torchvision", "tensorflow", "keras", "jax", "flax", "optax", "matplotlib", "numpy", "PIL"}


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "cnn1", "--backend", "torch"],
        ["show", "cnn1", "--backend", "lightning"],
        ["show", "mnist_cnn", "--backend", "keras"],
        ["show", "mnist_cnn", "--backend", "tf"],
        ["show", "mnist_cnn", "--backend", "jax"],
        ["show", "mnist_cnn", "--backend", "keras-jax"],
        ["show", "mnist_cnn", "--backend", "keras-torch"],
    ],
    ids=[
        "list",
        "show-torch",
        "show-lightning",
        "show-keras",
        "show-tf",
        "show-jax",
        "show-keras-jax",
        "show-keras-torch",
    ],
)
def test_listing_commands_import_no_framework_and_no_matplotlib(args):
    """A listing is text: printing it needs no framework, no numpy, no figures."""
    done = run_python("-X", "importtime", "run.py", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout
    assert not _imported(done.stderr) & HEAVY


def test_export_loads_only_its_framework(tmp_path):
    """Drawing a torch model's initial weights loads torch, and neither TensorFlow nor figures."""
    done = run_python("-X", "importtime", "run.py", "export", "--model", "relu", "--weights", str(tmp_path / "w.npz"))
    assert done.returncode == 0, done.stderr[-2000:]
    imported = _imported(done.stderr)
    assert "torch" in imported and not imported & {"tensorflow", "keras", "matplotlib"}


# What loading each other family shows: jaxlib, for TensorFlow's own import asks for jax (the
# JAX family's root keeps it out: an attempt -X importtime lists, which loads nothing). Keras
# on JAX or torch would import TensorFlow (to seed it) and, on torch, JAX: both kept out.
OTHER_FAMILIES = {
    "torch": {"tensorflow", "jaxlib"},
    "tensorflow": {"torch", "jaxlib"},
    "jax": {"torch", "tensorflow"},
    "keras-jax": {"torch", "tensorflow"},
    "keras-torch": {"tensorflow", "jaxlib"},
}


@pytest.mark.parametrize("backend", columns.names())  # Keras on JAX and torch: in workers of their own
def test_a_run_writes_metrics_and_never_imports_the_other_framework(tmp_path, backend):
    out = tmp_path / "run"
    done = run_python(
        "-X", "importtime", "run.py", "--backend", backend, "--model", "relu", "--epochs", "2", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = _imported(done.stderr)
    own = {"torch": {"torch"}, "lightning": {"pytorch_lightning"}, "keras": {"keras"}, "tf": {"tensorflow"}}
    own |= {"jax": {"jax", "flax", "optax"}, "keras-jax": {"keras", "jax"}, "keras-torch": {"keras", "torch"}}
    assert own[backend] <= imported and not imported & OTHER_FAMILIES[columns.column(backend).family]
    assert f"[{backend}] epoch 2/2" in done.stdout
    assert "per class (correct/total): parallel:" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert KEYS <= set(metrics)
    assert (metrics["column"], metrics["model"], metrics["mode"], metrics["epochs"]) == (backend, "relu", "native", 2)
    assert metrics["layout"] == columns.column(backend).native_layout
    assert len(metrics["train_loss"]) == len(metrics["val_loss"]) == 2
    assert metrics["params"] == 143 and sum(t for _, t in metrics["per_class"]) == 60
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    native = "model.keras" if backend in ELSEWHERE else columns.load(backend, "weights").NATIVE_FILE
    files = ["loss.png", "metrics.json", native, "spec.yaml", "weights.npz"]
    assert sorted(p.name for p in out.iterdir()) == sorted(files)


def test_the_tf_column_never_imports_keras():
    """TensorFlow itself imports ``keras.src.optimizers`` when Keras is installed; tf_impl keeps
    it out. ``-X importtime`` lists every module loaded; none may belong to Keras (TensorFlow's
    own ``tensorflow.python.keras`` helpers are TensorFlow's, not Keras)."""
    done = run_python("-X", "importtime", "-c", "import tf_impl.train, tf_impl.listing; import tensorflow as tf")
    assert done.returncode == 0, done.stderr
    loaded = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "tensorflow" in loaded and "tf_impl.train" in loaded
    assert [name for name in loaded if name.split(".")[0] in ("keras", "tf_keras")] == []


def test_keras_still_loads_after_the_tf_column():
    """Keeping Keras out of TensorFlow's start-up is for that moment only: a process that
    goes on to the Keras column (compare, report) gets all of Keras."""
    done = run_python("-c", "import tf_impl.build, keras_impl.build, keras; print(keras.optimizers.Adam.__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Adam"]


def test_layout_override_and_quiet(tmp_path):
    done = run_here("--model", "logistic", "--epochs", "1", "--layout", "nhwc", "--quiet", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" not in done.stdout  # --quiet
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["layout"] == "nhwc"


def test_the_specs_layout_is_the_default(tmp_path):
    spec = tmp_path / "relu_nhwc.yaml"
    spec.write_text(resolve_spec("relu").read_text().replace("title:", "layout: nhwc\ntitle:"))
    done = run_here("--model", str(spec), "--epochs", "1", "--quiet", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["layout"] == "nhwc"  # torch, yet nhwc


def test_out_must_be_new_or_empty_and_is_checked_before_training(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "old.txt").write_text("keep me")
    done = run_python("run.py", "--model", "relu", "--out", str(taken))
    assert done.returncode == 2 and "not an empty directory" in done.stderr
    assert "epoch" not in done.stdout and [p.name for p in taken.iterdir()] == ["old.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("")
    done = run_python("run.py", "--model", "relu", "--out", str(a_file))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_run_files_are_readable_by_others(tmp_path):
    out = tmp_path / "r"
    done = run_here("--model", "logistic", "--epochs", "1", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert all(p.stat().st_mode & 0o044 for p in [out, *out.iterdir()])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_threads_reach_the_framework(tmp_path):
    """--threads N sets the pool before torch loads, over what the environment says."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['run.py', '--model', 'logistic', '--epochs', '1', '--quiet', '--threads', '2', '--out', %r]\n"
        "try: runpy.run_path('run.py', run_name='__main__')\n"
        "except SystemExit as exit: assert exit.code == 0, exit.code\n"
        "import torch; print('threads', torch.get_num_threads())"
    ) % str(tmp_path / "r")
    done = run_python("-c", code, env=dict.fromkeys(THREAD_VARIABLES, "1"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "threads 2"


def test_a_command_of_several_families_runs_each_in_a_process_of_its_own(tmp_path):
    """compare over torch, tf and jax: the command's own process loads none of the three
    frameworks; each family's worker loads its own alone (it reports what it loaded)."""
    code = (
        "import sys, run\n"
        "from common.runs import workers\n"
        "loaded = []\n"
        "FRAMEWORKS = \"sorted(m for m in ('torch', 'tensorflow', 'jax') if __import__('sys').modules.get(m))\"\n"
        "def frameworks():\n"
        "    return eval(FRAMEWORKS)\n"
        "calls = workers.in_family\n"
        "def spy(family, function, *args, **kwargs):\n"
        "    result = calls(family, function, *args, **kwargs)\n"
        "    loaded.append((family, tuple(calls(family, eval, FRAMEWORKS))))\n"
        "    return result\n"
        "workers.in_family = spy\n"
        f"code = run.main(['compare', '--model', 'relu', '--epochs', '1', '--quiet', '--backends', 'torch,tf,jax',"
        f" '--out', {str(tmp_path / 'c')!r}])\n"
        "print(code, frameworks(), sorted(set(loaded)))\n"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == (
        "0 [] [('jax', ('jax',)), ('tensorflow', ('tensorflow',)), ('torch', ('torch',))]"
    )
