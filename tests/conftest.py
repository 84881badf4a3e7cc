"""Shared fixtures. The test session uses both families in one process, so it is made safe
for both before anything imports TensorFlow (``columns.share_process``; DESIGN.md, "Hazards")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common import columns

columns.share_process(columns.names())  # before anything imports TensorFlow

ROOT = Path(__file__).resolve().parent.parent


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
