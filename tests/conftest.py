"""Shared fixtures. The test session uses every family that can share one process (torch,
TensorFlow with Keras on it, JAX: ``columns.sharing``) in one process, so it is made safe for
them before anything imports TensorFlow (``columns.share_process`` in ``pytest_configure``,
before collection; DESIGN.md, "Hazards"). Keras on JAX and on torch never share a process
with Keras on TensorFlow: their columns compute in worker processes (``common.runs.workers``,
``SESSION`` below)."""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import run
from common import columns
from common.threads import THREAD_VARIABLES


def _share_the_cores() -> None:
    """A worker per core (``-n auto``) runs torch and TensorFlow, whose pools each start a
    thread per core: on 2 cores, two workers' four threads wait on each other at every
    parallel region. Measured with two processes training side by side: cnn1's torch run
    took 13.9 s with two threads each, 2.9 s with one, and the lockstep runs of four specs
    168.6 s against 118.4 s. So each worker, and every process it starts, has its share of
    the cores, unless the environment says otherwise. A different count only reorders
    sums: the checks judge by a floor or a spread measured in the same run."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // workers)
        for variable in THREAD_VARIABLES:
            os.environ.setdefault(variable, str(threads))


_share_the_cores()  # before any framework loads and reads them


def _compile_each_step_once() -> None:
    """JAX compiles a jitted step anew in every process and for every trainer, and most of a
    JAX test's time was XLA compiling the few steps the specs share: cnn2's one-epoch run
    took 21 s, 5 s with its steps in JAX's persistent compilation cache. Each worker makes a
    cache of its own (JAX writes an entry without a lock: two workers never share one),
    which every process it starts inherits, and removes it at the end. XLA's executable is
    the same read from the cache as compiled: no figure a test checks changes. A cache the
    user set is left as it is."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR", "") != os.environ.get("TWINSPEC_TESTS_JAX_CACHE", ""):
        return  # the user's, not one a controller made before it started this worker
    folder = tempfile.mkdtemp(prefix="twinspec-tests-jax-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["TWINSPEC_TESTS_JAX_CACHE"] = folder
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


_compile_each_step_once()  # before JAX loads


@pytest.hookimpl(trylast=True)  # after xdist's, which registers its controller as "dsession"
def pytest_configure(config: pytest.Config) -> None:
    """Safe for both families before a test module imports TensorFlow. An xdist controller
    collects and runs no test, so it skips the guard: it imports torch and its compiler
    (4 s on a 2-core EPYC, before the workers start) and takes 1.4 s to shut them down."""
    if not config.pluginmanager.has_plugin("dsession"):
        columns.share_process(SESSION)


# The columns this session's process computes in itself; the others (Keras on JAX and on
# torch) in workers, each of its family.
SESSION = columns.sharing(columns.names())
ELSEWHERE = [name for name in columns.names() if name not in SESSION]


ROOT = Path(__file__).resolve().parent.parent
# ``make test`` runs the files on a worker per core, a file on one worker from start to end
# (``--dist loadfile``: a file's runs are cached for its tests), in this order: the slowest
# first (worker seconds in a full run on an idle 2-core machine: show 220, lockstep 170,
# lecture_cli 95, trainer_api 85, listings 80, keras_backends 75, then 65 to 20), so that the
# files left at the end are short ones that even out the two workers. xdist would sort the
# files by their count of tests instead, which put coexist (7 tests, a minute) last, alone on
# one worker for 41 s; the Makefile's ``--no-loadscope-reorder`` keeps this order.
SLOWEST_FIRST = (
    "test_show.py",
    "test_lockstep.py",
    "test_lecture_cli.py",
    "test_trainer_api.py",
    "test_listings.py",
    "test_keras_backends.py",
    "test_parity_native.py",
    "test_coexist.py",
    "test_notebooks.py",
    "test_reliability.py",
    "test_lightning.py",
    "test_bad_input.py",
    "test_cli.py",
    "test_calls.py",
    "test_layouts.py",
    "test_workflow.py",
    "test_columns.py",
    "test_bench.py",
    "test_deploy.py",
    "test_backends.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [name for name in SLOWEST_FIRST if not (ROOT / "tests" / name).is_file()]
    if missing:  # a renamed file would lose its place in silence
        raise pytest.UsageError(f"tests/conftest.py: SLOWEST_FIRST names no such file: {', '.join(missing)}")
    first = {name: rank for rank, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests generate their own data into a cache of their own, never the user's."""
    os.environ["TWINSPEC_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def run_python(
    *args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """A fresh interpreter, as a user would start one (same venv, same cache)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_here(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``run.py`` called in this process, for tests of what a command does with its files
    and figures: the worker has the frameworks loaded already, where a fresh interpreter
    spends some 3 s (torch) to 8 s (both) importing them. Tests of the process itself (what
    it imports, its signals, its warnings, the import order of both families) use
    ``run_python``."""
    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # main() installs its own
    unraisable_hook = sys.unraisablehook  # and its own hook
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run.main(list(args))
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            sys.unraisablehook = unraisable_hook
    return subprocess.CompletedProcess(["run.py", *args], code, out.getvalue(), err.getvalue())
