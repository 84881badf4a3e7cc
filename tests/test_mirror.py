"""The columns are mirror images: a student who diffs two of them sees the frameworks and
nothing else. Read from the source (``ast``), so that no framework is imported.

- Every registered column's package has the same module names.
- A module defines the same public functions and classes, in the same order, with the
  same parameter names. Module-level tables (``LAYERS``, ``LOSSES``) hold framework code
  and may differ. A column may re-export a sibling column's names where the family is the
  same (``from torch_impl.build import build_model``).
- ``semantics`` is what a framework must add to compute what torch computes, so its
  classes are its own; every column's starts with the table ``ADAPTATIONS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common import columns

ROOT = Path(__file__).resolve().parent.parent
OWN_CLASSES = {"semantics"}  # modules whose classes are the framework's own (docstring above)


def _package(name: str) -> Path:
    return ROOT / columns.column(name).package


def _modules(name: str) -> set[str]:
    return {path.stem for path in _package(name).glob("*.py")}


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    args = node.args
    return tuple(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])


def api(name: str, module: str, package: Path | None = None) -> list[tuple[str, tuple]]:
    """The public functions and classes of a column's module, in order: a function with its
    parameter names, a class with its public methods and theirs."""
    tree = ast.parse(((package or _package(name)) / f"{module}.py").read_text(encoding="utf-8"))
    siblings = {columns.column(other).package for other in columns.COLUMNS if other != name}
    found: list[tuple[str, tuple]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found.append((node.name, _signature(node)))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            methods = tuple(
                (item.name, _signature(item))
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and (not item.name.startswith("_") or item.name == "__init__")
            )
            found.append((node.name, methods))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in siblings:
            found += [(alias.asname or alias.name, ("re-exported",)) for alias in node.names]
    return found


def _names(entries: list[tuple[str, tuple]]) -> list[str]:
    return [entry for entry, _ in entries]


NAMES = columns.names()
OTHERS = [name for name in NAMES if name != columns.REFERENCE]


@pytest.mark.parametrize("name", OTHERS)
def test_every_column_has_the_same_modules(name):
    assert _modules(name) == _modules(columns.REFERENCE)


@pytest.mark.parametrize("module", sorted(_modules(columns.REFERENCE) - OWN_CLASSES - {"__init__"}))
@pytest.mark.parametrize("name", OTHERS)
def test_a_module_defines_the_same_public_api_in_the_same_order(name, module):
    reference = api(columns.REFERENCE, module)
    ours = api(name, module)
    assert _names(ours) == _names(reference)
    for (entry, theirs), (_, mine) in zip(reference, ours):
        if mine != ("re-exported",):
            assert mine == theirs, f"{name}_impl/{module}.py: {entry} differs from {columns.REFERENCE}'s"


@pytest.mark.parametrize("name", NAMES)
def test_semantics_starts_with_its_table_of_adaptations(name):
    tree = ast.parse((_package(name) / "semantics.py").read_text(encoding="utf-8"))
    definitions = (ast.Assign, ast.AnnAssign, ast.ClassDef, ast.FunctionDef)
    first = next(node for node in tree.body if isinstance(node, definitions))
    target = first.target if isinstance(first, ast.AnnAssign) else getattr(first, "targets", [None])[0]
    assert isinstance(target, ast.Name) and target.id == "ADAPTATIONS"


def test_a_difference_is_caught(tmp_path):
    """The check itself: a copy of torch's trainer that lacks one method reads differently."""
    source = (_package(columns.REFERENCE) / "train.py").read_text(encoding="utf-8")
    (tmp_path / "train.py").write_text(source.replace("    def predict(", "    def _predict("), encoding="utf-8")
    reference = api(columns.REFERENCE, "train")
    broken = api(columns.REFERENCE, "train", package=tmp_path)
    assert [m for m, _ in dict(reference)["StepByStep"]] != [m for m, _ in dict(broken)["StepByStep"]]
