"""The registry of columns: adding a column is a package and one registry line."""

from __future__ import annotations

import json
import sys

import pytest

import run
from common import columns
from spec import TwinspecError


def test_the_registry_lists_the_reference_first_and_each_family_together():
    names = columns.names()
    assert names[0] == columns.REFERENCE == "torch"
    families = [columns.column(name).family for name in names]
    assert families == sorted(families, key=columns.FAMILIES.index)
    assert all(columns.column(name).reference in (None, columns.REFERENCE) for name in names)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "name at least one backend"),
        ("torch,jax", "unknown backend 'jax'"),
        ("keras,keras", "names a backend twice"),
    ],
)
def test_backends_option_refuses_what_is_not_registered(text, message):
    with pytest.raises(TwinspecError, match=message):
        columns.parse_backends(text)


def test_backends_come_back_in_load_order():
    assert columns.parse_backends("keras,torch") == ["torch", "keras"]


def test_a_throwaway_column_is_a_package_and_one_line(tmp_path, monkeypatch, capsys):
    """A column that re-exports torch's modules, registered here and nowhere else, is
    trained, compared and judged by the same commands as the shipped ones."""
    package = tmp_path / "throwaway_impl"
    package.mkdir()
    (package / "__init__.py").write_text('"""A throw-away column for the registry test."""\n')
    for module in ("runner", "forward", "weights", "listing", "activations"):
        (package / f"{module}.py").write_text(f"from torch_impl.{module} import *  # noqa: F403\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    columns.register(columns.Column("throwaway", "throwaway_impl", "torch", "nchw", "torch", "Throwaway"))
    try:
        out = tmp_path / "compare"
        argv = ["compare", "--model", "relu", "--epochs", "2", "--mode", "lockstep", "--quiet"]
        assert run.main([*argv, "--backends", "torch,throwaway", "--out", str(out)]) == 0
        figures = json.loads((out / "compare.json").read_text())
        assert set(figures["backends"]) == {"torch", "throwaway"}
        assert figures["lockstep"]["backends"]["throwaway"]["max_rel_loss_diff"] == 0
        assert "lockstep throwaway vs torch" in capsys.readouterr().out
        assert run.main(["parity", "--model", "relu", "--check", "forward", "--backends", "torch,throwaway"]) == 0
        assert "throwaway-nhwc" in capsys.readouterr().out
    finally:
        columns.unregister("throwaway")
        sys.modules.pop("throwaway_impl", None)
    assert "throwaway" not in columns.names()
