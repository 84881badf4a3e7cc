"""Keras on JAX and on torch (``keras-jax``, ``keras-torch``): the keras column's very code
on Keras' other backends, judged as every column is. Keras reads its backend once and this
session's process runs Keras on TensorFlow, so they compute in workers of their own
(``conftest.ELSEWHERE``, ``tests/elsewhere.py``).

A worker starts Keras and its backend (5 to 10 s on a shared 2-core machine) and JAX compiles
each model's steps anew, so one test opens the workers once and checks in them, on the few
specs that reach each path, what the other files check of each column here: the forward
function (every layer kind, both layouts); the lockstep trajectory against torch's: relu's
through ``run.py report``, whose figure overlays the Keras program's three runs, then on the
backend where each path differs, lockstep_zoo's (TorchAdam, TorchBatchNormalization, PReLU,
reflection padding), dropout_maps' (PlannedDropout, LockstepSequential), channels_first's
(TorchRMSprop, torch's weight decay) and flatten_batchnorm's (AdamW); the listing's
model, loss and optimizer; and, on torch (no compiling), the trainer fed numpy and the listing
run alone in an empty folder, bit for bit (its text differs from JAX's in one line, the backend's). The rest is checked with the other
columns: the registry (test_columns), their listings' text (test_listings, test_cli), a
command line run and what it imports (test_cli), their notebooks (test_notebooks).
"""

from __future__ import annotations

import html
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import elsewhere
import pytest
from conftest import ELSEWHERE, run_here
from test_listings import DUMP, listing, with_epochs

from common import columns
from common.data.datasets import load_dataset
from common.data.prep import split_dataset
from common.parity.checks import check_forward, check_lockstep
from common.present.tables import format_lockstep_figures
from common.runs import runner, workers

REFERENCE = columns.REFERENCE
KERAS = ["keras", *ELSEWHERE]  # one program on its three backends


def run_alone(column: str, spec_name: str, folder: Path) -> tuple[dict, str]:
    """The column's listing, two epochs, run by a fresh interpreter in an empty folder."""
    folder.mkdir()
    (folder / "listing.py").write_text(with_epochs(listing(column, spec_name), 2) + DUMP)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "listing.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert {f"{spec_name}_{column}.keras", f"{spec_name}_{column}_loss.png"} <= {p.name for p in folder.iterdir()}
    return json.loads((folder / "losses.json").read_text()), done.stdout


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # every_layer does, on purpose
def test_keras_on_jax_and_torch_compute_train_and_list_as_the_keras_column(tmp_path):
    with workers.per_family([REFERENCE, *KERAS]):  # run.py's commands below use these workers
        parity = check_forward(elsewhere.spec_named("every_layer"), [REFERENCE, *ELSEWHERE])
        assert len(parity.pairs) == 15 and parity.passed, parity.pairs

        page = tmp_path / "relu.html"
        args = ["--backends", ",".join([REFERENCE, *KERAS]), "--mode", "lockstep", "--epochs", "2", "--quiet"]
        done = run_here("report", "relu", *args, "--out", str(page))
        assert done.returncode == 0, done.stderr
        for name in KERAS:
            line = next(line for line in done.stdout.splitlines() if line.startswith(f"lockstep {name} vs torch:"))
            assert "per-class counts equal" in line and line.endswith("the same run"), line
        text = html.unescape(page.read_text(encoding="utf-8"))
        assert "One Keras program on 3 backends" in text and "keras on its backends: loss per epoch" in text
        assert "torch-nchw vs keras-jax-nhwc" in text and 'os.environ["KERAS_BACKEND"] = "torch"' in text

        # lockstep_zoo on torch, whose Keras backend takes a batch's variance as E[x^2] - E[x]^2:
        # its weights went 200 floors off in 6 epochs until TorchBatchNormalization took torch's.
        # dropout_maps on JAX, whose trainer hands LockstepSequential's step (state, data).
        # The optimizers twinspec writes for Keras (torch's RMSprop and weight decay), on JAX,
        # and AdamW's decay on torch, where Keras multiplies the weights in place.
        checked = [("keras-torch", "lockstep_zoo"), ("keras-jax", "dropout_maps"), ("keras-jax", "channels_first")]
        for column, name in [*checked, ("keras-torch", "flatten_batchnorm")]:
            judged = check_lockstep(elsewhere.spec_named(name), "nhwc", [column])[column]
            figures = f"{column} {name}: {format_lockstep_figures(judged)}"
            assert judged.verdict == "passed" and judged.per_class_equal, figures

        relu = elsewhere.spec_named("relu")
        steps = math.ceil(len(split_dataset(load_dataset(relu.data.dataset), relu.data).y_train) / relu.data.batch_size)
        for column in ELSEWHERE:  # the listing's model, loss and optimizer: the column's
            built = workers.in_column(
                column, elsewhere.listing_builds_the_columns_model, column, ["every_layer", "cnn2"]
            )
            assert built == 2
        # the trainer's code fed numpy is one on both backends; torch's runs it without compiling
        figures = workers.in_column("keras-torch", elsewhere.trainer_checks, "keras-torch", str(tmp_path))
        for epoch in (1, 2):
            heard = [step for at, step, total in figures["heard"] if at == epoch]
            assert heard == sorted(heard) and heard[-1] == steps and len(heard) >= min(steps, 2)
            assert all(total == steps for at, _, total in figures["heard"] if at == epoch)

        # normalize: auto, a softmax's probabilities, and a test split evaluated from arrays
        listed, printed = run_alone("keras-torch", "auto_test_split", tmp_path / "listing")
        spec = elsewhere.spec_named("auto_test_split").with_overrides(epochs=2)
        result = workers.in_column("keras-torch", runner.train_spec, "keras-torch", spec, "nhwc")
        assert listed == {"losses": list(result.train_loss), "val_losses": list(result.val_loss)}
        assert "test_loss" in printed and "validation image 0: " in printed
