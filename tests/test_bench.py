"""The benchmarks' own arithmetic and bookkeeping: alternation, ratios, FLOPs, that no
registered column is left out (bench/, docs/speed.md), and that ``make bench``'s results
file, docs/benchmarks.md, is written whole and stamped with where and with what."""

import argparse
import datetime
import importlib.metadata
import os
import platform
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import columns_race  # noqa: E402
import results  # noqa: E402
from deploy_vs_eager import WORKER as DEPLOY_WORKER  # noqa: E402
from loops import KERNELS, LOOPS  # noqa: E402
from driver import Worker, measure_models, selected_columns  # noqa: E402
from specs import forward_flops  # noqa: E402
from table import Row  # noqa: E402
from startup import commands  # noqa: E402
from threads import BusyCore  # noqa: E402
from timing import alternate, ratio  # noqa: E402

from common import columns  # noqa: E402
from spec import load_spec, resolve_spec  # noqa: E402


def test_sides_take_turns_and_the_order_rotates():
    calls = []
    times = alternate({name: (lambda name=name: calls.append(name) or 1.0) for name in "abc"}, 3)
    assert calls == list("abcbcacab")
    assert times == {"a": [1.0] * 3, "b": [1.0] * 3, "c": [1.0] * 3}


def test_a_ratio_is_taken_round_by_round():
    r = ratio([2.0, 9.0, 3.0], [1.0, 3.0, 2.0])
    assert (r.median, r.low, r.high, r.rounds) == (2.0, 1.5, 3.0, 3)


def test_the_busy_core_spins_only_while_held():
    busy = BusyCore()
    stat = Path(f"/proc/{busy.process.pid}/stat")

    def state_and_cpu() -> tuple[str, int]:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[11]) + int(fields[12])  # state; utime + stime, in ticks

    try:
        time.sleep(0.2)
        state, before = state_and_cpu()
        assert state == "T"  # stopped: the quiet sides' machine
        with busy.held():
            time.sleep(0.5)
            state, during = state_and_cpu()
            assert state == "R"
        time.sleep(0.2)
        state, after = state_and_cpu()
        assert state == "T" and during - before >= 5  # at least 50 ms of CPU in the 0.5 s held
        time.sleep(0.3)
        assert state_and_cpu()[1] == after  # and none once released
    finally:
        busy.close()


def test_flops_of_cnn1_by_hand():
    # conv1: 8 x 8 outputs of 9 inputs; fc1: 10 of 16; fc2: 3 of 10; two FLOPs a multiply-add
    assert forward_flops(load_spec(resolve_spec("cnn1"))) == 2 * (64 * 9 + 10 * 16 + 3 * 10)


@pytest.fixture
def unbuilt_column():
    columns.register(columns.Column("nowhere", "no_such_package", "torch", "nchw", "torch", "Nowhere"))
    yield "nowhere"
    columns.unregister("nowhere")


def test_every_registered_column_is_measured_or_reported(unbuilt_column):
    assert any(unbuilt_column in name for name in commands(Path(".")))
    assert unbuilt_column in selected_columns(argparse.Namespace(columns=None))
    rows = measure_models(argparse.Namespace(models="cnn1", rounds=1, columns=unbuilt_column), [])
    missed = [row for row in rows if unbuilt_column in row.what]
    assert len(missed) == 1 and missed[0].met is False and "exited" in missed[0].figure


def test_every_column_has_a_plain_loop_and_every_family_its_kernels():
    assert set(LOOPS) == set(columns.names())
    assert set(KERNELS) == set(columns.FAMILIES)


@pytest.mark.parametrize("column", ["torch", "lightning", "tf", "jax", "keras-torch"])
def test_a_worker_times_every_side_it_announces(column):
    # a real worker on the smallest spec: each side runs and takes time; every column's
    # plain loop exists, so "loop" is announced (Keras' plain fit on TensorFlow runs in
    # bench/all.py, and Keras on JAX is the same code as on torch), and on Keras' other
    # backends the kernels are their frameworks'
    with Worker(column, "logistic") as worker:
        steps = set() if column.startswith("keras-") else {"steps"}
        assert {"trainer", "loop", "matmul", "conv"} | steps == set(worker.sides)
        assert set(worker.ready["first"]) == set(worker.sides)
        assert all(worker.time(side) > 0 for side in worker.sides)


def test_the_first_call_is_reported_beyond_the_steady_epochs(monkeypatch):
    monkeypatch.setattr(columns_race, "EPOCHS", 3)

    class Ready:
        ready = {"first": {"trainer": 2.0}}  # seconds an epoch over the first EPOCHS epochs

    row = columns_race._first_call("jax", "cnn1", Ready(), [0.5, 0.25, 1.0])
    assert row.section == columns_race.FIRST and row.what == "jax cnn1"
    # 3 epochs took 6.0 s, 3 steady ones 1.5 s (the median 0.5): 4.5 s more
    assert row.figure == "4.5 s (first 3 epochs 6.0 s, then 0.50 s an epoch)"
    faster = columns_race._first_call("torch", "cnn1", Ready(), [2.5])  # noise: the first call was quicker
    assert faster.figure == "0.0 s (first 3 epochs 6.0 s, then 2.50 s an epoch)"


def test_a_deploy_worker_times_the_eager_forward_and_every_format():
    # Keras exports all three kinds of runtime file (ONNX, LiteRT, SavedModel)
    with Worker("keras", "logistic", script=DEPLOY_WORKER) as worker:
        sides = {f"{side} {n}" for side in ("eager", "onnx", "litert", "saved_model") for n in (1, 32)}
        assert set(worker.sides) == sides
        assert all(worker.time(side) > 0 for side in worker.sides)


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: Test\nmodel name\t: Test CPU 9000 @ 3.0GHz\nflags\t: fpu\n")
    assert results.cpu_model(cpuinfo) == "Test CPU 9000 @ 3.0GHz"
    assert results.cpu_model(tmp_path / "missing") == (platform.processor() or platform.machine() or "unknown")


def test_make_benchs_results_file_is_written_whole_and_stamped(tmp_path):
    rows = [
        Row("trainer / plain loop", "torch cnn1", "1.04x (1.00-1.07, 5 rounds)", "<= 1.1", True),
        Row("trainer / plain loop", "jax cnn1", "no plain loop for this column in bench/loops.py", "<= 1.1", False),
        Row("start-up", "python -c 'import torch'", "1.76 s"),
        Row("start-up", "a | in a cell", "x"),
    ]
    now = datetime.datetime(2026, 12, 7, 9, 30, tzinfo=datetime.timezone.utc)
    where = results.stamp("python bench/all.py --models cnn1 --rounds 1", "took 3 min", "1.5, 1.2, 0.9", now)
    path = tmp_path / "docs" / "benchmarks.md"
    path.parent.mkdir()
    path.write_text("an older table\n")
    results.write(
        path, rows, where, {"Lightning's Trainer against the book's loop, per step": "spec  steps\nrelu  19\n"}
    )

    text = path.read_text()
    assert text.startswith(results.GENERATED)
    assert "an older table" not in text
    assert [entry.name for entry in path.parent.iterdir()] == ["benchmarks.md"]  # no temporary file left
    assert "- **Date:** 2026-12-07 09:30 UTC" in text
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"- **CPU:** {results.cpu_model()}, {cores} core" in text
    assert "load average 1.5, 1.2, 0.9" in text
    assert f"- **Python:** {platform.python_version()}" in text
    for name in ("torch", "lightning", "tensorflow", "keras", "jax", "flax", "numpy"):
        assert f"{name} {where.libraries[name]}" in text
        assert where.libraries[name] != "not installed"  # every one is pinned in requirements.txt
    assert where.libraries["torch"] == importlib.metadata.version("torch")
    assert "- **Command:** `python bench/all.py --models cnn1 --rounds 1`, took 3 min" in text
    assert "- **Targets:** 1 met, 1 missed" in text
    assert "## trainer / plain loop\n\n| what | figure | target | verdict |\n|---|---|---|---|\n" in text
    assert "| torch cnn1 | 1.04x (1.00-1.07, 5 rounds) | <= 1.1 | met |" in text
    assert "| jax cnn1 | no plain loop for this column in bench/loops.py | <= 1.1 | **MISSED** |" in text
    assert "| a \\| in a cell | x |   |   |" in text
    assert "## Lightning's Trainer against the book's loop, per step\n\n```\nspec  steps\nrelu  19\n```" in text


def test_bench_all_writes_the_results_file_where_asked(tmp_path, monkeypatch):
    # the runner's own plumbing, with every benchmark replaced by a fake row
    import all as bench_all

    fake = Row("trainer / plain loop", "torch cnn1", "1.00x (1.00-1.00, 1 rounds)", "<= 1.1", True)
    monkeypatch.setattr(bench_all, "measure_models", lambda args, sections: [fake])
    monkeypatch.setattr(bench_all.deploy_vs_eager, "measure", lambda args: [])
    monkeypatch.setattr(bench_all.startup, "measure", lambda rounds: [])
    monkeypatch.setattr(bench_all, "lockstep_rows", lambda rounds: [])
    monkeypatch.setattr(bench_all, "overhead_table", lambda args: ("per step\n", []))
    out = tmp_path / "benchmarks.md"
    assert bench_all.main(["--models", "cnn1", "--rounds", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "`python bench/all.py --models cnn1 --rounds 1`" in text
    assert "| torch cnn1 | 1.00x (1.00-1.00, 1 rounds) | <= 1.1 | met |" in text
    assert "per step" in text
    assert "**A partial run: `make bench` measures --models cnn1,lenet,mnist_cnn with --rounds 5" in text
    assert bench_all.main(["--models", "cnn1", "--rounds", "1", "--out", "-"]) == 0  # prints only
