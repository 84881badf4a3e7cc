"""Progress while training: a line per epoch always (unless ``--quiet``); on a terminal, a
bar that moves with the epoch's steps. The bar's reports change nothing that is computed."""

from __future__ import annotations

import fcntl
import math
import os
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import SESSION

from common import columns
from common.data.datasets import load_dataset
from common.data.prep import split_dataset
from common.present.progress import Progress
from common.runs.runner import train_spec
from spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
RELU = load_spec(ROOT / "spec" / "models" / "relu.yaml").with_overrides(epochs=2)


@pytest.mark.parametrize("column", SESSION)  # Keras on JAX and torch: tests/test_keras_backends.py
def test_every_step_is_reported_and_the_run_is_the_same(column):
    layout = columns.layout_for(RELU, column)
    heard: list[tuple[int, int, int | None]] = []
    reported = train_spec(column, RELU, layout, on_step=lambda *step: heard.append(step))
    quiet = train_spec(column, RELU, layout)
    assert reported.train_loss == quiet.train_loss and reported.val_loss == quiet.val_loss
    training = split_dataset(load_dataset(RELU.data.dataset), RELU.data).y_train
    steps = math.ceil(len(training) / RELU.data.batch_size)
    for epoch in (1, 2):
        done = [step for at, step, total in heard if at == epoch]
        assert done == sorted(done) and done[-1] == steps and len(done) >= min(steps, 2)
        assert all(total == steps for at, _, total in heard if at == epoch)


def test_no_bar_when_quiet_or_not_on_a_terminal(capsys):
    assert Progress("torch", 3, quiet=True, bars=True).on_step is None
    assert Progress("torch", 3, quiet=True).on_epoch is None
    assert Progress("torch", 3, quiet=False).on_step is None  # pytest's output is not a terminal
    progress = Progress("keras", 3, quiet=False, bars=True)
    for step in (1, 5, 10):
        progress.on_step(2, step, 10)
    assert (progress.bar.n, progress.bar.total) == (10, 10)  # drawn at most every 0.1 s: tqdm's own pace
    progress.on_epoch(2, 0.5, 0.6, 0.7)
    out, err = capsys.readouterr()
    bar, _, line = out.rpartition("\r")  # the bar, on the log's own stream, erased before the line
    assert "[keras] epoch 2/3" in bar and err == ""
    assert line.lstrip().startswith("[keras] epoch 2/3  loss 0.5000  val_loss 0.6000"), out
    assert progress.bar is None


def test_a_run_on_a_terminal_shows_a_bar_and_a_log_does_not(tmp_path):
    args = [sys.executable, str(ROOT / "run.py"), "--model", "relu", "--epochs", "1", "--out", str(tmp_path / "run")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    logged = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert logged.returncode == 0 and "\r" not in logged.stdout + logged.stderr and "step" not in logged.stderr

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    process = subprocess.Popen(
        [*args[:-1], str(tmp_path / "run2")], cwd=tmp_path, env=env, stdout=follower, stderr=follower
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the terminal closed: the run is over
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = seen.decode()
    assert re.search(r"\[torch\] epoch 1/1: +\d+%.*step", text), text[-2000:]
    assert re.search(r"\[torch\] epoch +1/1 +loss", text)
