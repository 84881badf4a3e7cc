"""The registry of columns: adding a column is a package and one registry line."""

from __future__ import annotations

import json
import os
import sys

import pytest

import run
from conftest import ROOT
from common import columns
from spec import TwinspecError


def test_the_registry_lists_the_reference_first_and_each_family_together():
    names = columns.names()
    assert names[0] == columns.REFERENCE == "torch"
    families = [columns.column(name).family for name in names]
    assert families == sorted(families, key=list(columns.FAMILIES).index)
    assert all(columns.column(name).reference in (None, columns.REFERENCE) for name in names)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "name at least one column"),
        ("torch,mxnet", "unknown column 'mxnet'"),
        ("keras,keras", "names a column twice"),
    ],
)
def test_backends_option_refuses_what_is_not_registered(text, message):
    with pytest.raises(TwinspecError, match=message):
        columns.parse_columns(text)


def test_backends_come_back_in_load_order():
    assert columns.parse_columns("keras,torch") == ["torch", "keras"]


def test_a_column_of_a_third_family_is_a_package_and_two_lines(tmp_path, monkeypatch, capsys):
    """A column of a family of its own, registered here and nowhere else (its modules
    re-export torch's, for the test), is trained, compared, judged and reported by the same
    commands as the shipped ones; a command that needs it and another family runs it in a
    worker process of its own (its root notes each process that imports it)."""
    package = tmp_path / "throwaway_impl"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""A throw-away column for the registry test."""\nimport os\nfrom pathlib import Path\n\n'
        'with Path(__file__).with_name("pids").open("a") as pids:\n    pids.write(f"{os.getpid()}\\n")\n\n\n'
        "def share_process() -> None:\n    pass\n\n\n"
        "def another_family_loads() -> None:\n    pass\n"
    )
    for module in sorted(path.stem for path in (ROOT / "torch_impl").glob("*.py") if path.stem != "__init__"):
        (package / f"{module}.py").write_text(f"from torch_impl.{module} import *  # noqa: F403\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    columns.register_family(columns.Family("throwaway", "throwaway_impl"))
    columns.register(columns.Column("throwaway", "throwaway_impl", "throwaway", "nchw", "torch", "Throwaway"))
    try:
        assert columns.names()[-1] == "throwaway"
        assert (
            run.main(
                [
                    "train",
                    "--backend",
                    "throwaway",
                    "--model",
                    "relu",
                    "--epochs",
                    "2",
                    "--quiet",
                    "--out",
                    str(tmp_path / "train"),
                ]
            )
            == 0
        )
        assert json.loads((tmp_path / "train" / "metrics.json").read_text())["column"] == "throwaway"
        out = tmp_path / "compare"
        argv = ["compare", "--model", "relu", "--epochs", "2", "--mode", "lockstep", "--quiet"]
        assert run.main([*argv, "--backends", "torch,throwaway", "--out", str(out)]) == 0
        processes = (package / "pids").read_text().split()
        assert processes[0] == str(os.getpid()) and len(processes) == 2  # train here; compare in a worker
        figures = json.loads((out / "compare.json").read_text())
        assert set(figures["columns"]) == {"torch", "throwaway"}
        assert figures["lockstep"]["columns"]["throwaway"]["max_rel_loss_diff"] == 0
        assert "lockstep throwaway vs torch" in capsys.readouterr().out
        assert run.main(["parity", "--model", "relu", "--check", "forward", "--backends", "torch,throwaway"]) == 0
        assert "throwaway-nhwc" in capsys.readouterr().out
        report = tmp_path / "report.html"
        assert (
            run.main(
                ["report", "relu", "--epochs", "1", "--backends", "torch,throwaway", "--quiet", "--out", str(report)]
            )
            == 0
        )
        assert "Throwaway" in report.read_text()
    finally:
        columns.unregister("throwaway")
        columns.unregister_family("throwaway")
        sys.modules.pop("throwaway_impl", None)
    assert "throwaway" not in columns.names() and "throwaway" not in columns.FAMILIES
    assert columns.loads_here("torch")  # the families entered no longer name it
