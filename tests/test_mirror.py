"""The columns are mirror images: a student who diffs two of them sees the frameworks and
nothing else. Read from the source (``ast``), so that no framework is imported.

- Every registered column's package has the same module names.
- A module defines the same public functions and classes, in the same order, with the
  same parameter names. Module-level tables (``LAYERS``, ``LOSSES``) hold framework code
  and may differ. A column may re-export a sibling column's names from the module of the
  same name where the family is the same (``from torch_impl.build import build_model``),
  or bind what a sibling's function makes for it (Keras' other backends).
- ``calls`` is the framework's vocabulary, every layer kind, loss and optimizer as its
  calls: its tables cover the whole spec language (``tests/test_calls.py``), in whatever
  shape the framework's code takes. ``semantics`` is what a framework must add to compute
  what torch computes, so its classes are its own; every column's starts with the table
  ``ADAPTATIONS``.
- ``StepByStep`` is the book's trainer: ``tests/test_trainer_api.py`` holds every column's
  to the same methods, with the same signatures, imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common import columns

ROOT = Path(__file__).resolve().parent.parent
OWN_API = {"semantics", "calls"}  # modules whose API is the framework's own (docstring above)


def _package(name: str) -> Path:
    return ROOT / columns.column(name).package


def _modules(name: str) -> set[str]:
    return {
        path.stem for path in _package(name).glob("*.py") if not path.stem.startswith("_") or path.stem == "__init__"
    }


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    args = node.args
    return tuple(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])


def _methods(node: ast.ClassDef) -> tuple:
    return tuple(
        (item.name, _signature(item))
        for item in node.body
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (not item.name.startswith("_") or item.name == "__init__")
    )


def _sibling_api(module: str) -> dict[str, tuple]:
    """``torch_impl.train`` -> the public API of that module of that column, by name."""
    package, _, rest = module.partition(".")
    sibling = next(other for other in columns.COLUMNS if columns.column(other).package == package)
    return dict(api(sibling, rest or "__init__"))


def _same_module(imported: str, module: str) -> bool:
    """Whether ``imported`` (``torch_impl.build``) is a sibling's module named ``module``."""
    return imported.partition(".")[2] == module


def api(name: str, module: str, package: Path | None = None) -> list[tuple[str, tuple]]:
    """The public functions and classes of a column's module, in order: a function with its
    parameter names, a class with its public methods and theirs.

    A name imported from a sibling column's module of the same name counts as re-exported
    when it is one of that module's public functions or classes (a re-exported table is a
    table); so does a name bound to what a function of a sibling's makes for this column
    (Keras' other backends: ``listing, header, ... = listing_sections("keras-jax")``).
    """
    tree = ast.parse(((package or _package(name)) / f"{module}.py").read_text(encoding="utf-8"))
    siblings = {columns.column(other).package for other in columns.COLUMNS if other != name}
    found: list[tuple[str, tuple]] = []
    factories: set[str] = set()  # what the module imports from a sibling's other modules
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found.append((node.name, _signature(node)))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found.append((node.name, _methods(node)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in siblings:
            if _same_module(node.module, module):
                public = _sibling_api(node.module)
                found += [
                    (alias.asname or alias.name, ("re-exported",)) for alias in node.names if alias.name in public
                ]
            else:
                factories |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Assign) and _bound_by(node, factories):
            found += [(target.id, ("re-exported",)) for target in _targets(node)]
    exported = _all(tree)  # a module of re-exports states its API, in order, there
    if not exported:
        return found
    return sorted((entry for entry in found if entry[0] in exported), key=lambda entry: exported.index(entry[0]))


def _targets(node: ast.Assign) -> list[ast.Name]:
    """The names an assignment binds (``a, b = ...`` binds two)."""
    names = []
    for target in node.targets:
        names += target.elts if isinstance(target, ast.Tuple) else [target]
    return [name for name in names if isinstance(name, ast.Name)]


def _bound_by(node: ast.Assign, factories: set[str]) -> bool:
    """Whether ``node`` binds names to the call of one of ``factories``."""
    call = node.value
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in factories


def _all(tree: ast.Module) -> list[str]:
    """The module's ``__all__``, if it has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
            return [element.value for element in node.value.elts]
    return []


def _names(entries: list[tuple[str, tuple]]) -> list[str]:
    return [entry for entry, _ in entries]


NAMES = columns.names()
OTHERS = [name for name in NAMES if name != columns.REFERENCE]


@pytest.mark.parametrize("name", OTHERS)
def test_every_column_has_the_same_modules(name):
    assert _modules(name) == _modules(columns.REFERENCE)


@pytest.mark.parametrize("module", sorted(_modules(columns.REFERENCE) - OWN_API - {"__init__"}))
@pytest.mark.parametrize("name", OTHERS)
def test_a_module_defines_the_same_public_api_in_the_same_order(name, module):
    """The same public functions in the same order with the same parameters. Classes are
    each framework's vocabulary (torch's ``Dataset``s, TensorFlow's family trainer, a
    Keras metric), not the column's interface; ``StepByStep``'s methods are held by the
    trainer API test."""
    skip = _classes(columns.REFERENCE, module) | _classes(name, module)
    reference = [entry for entry in api(columns.REFERENCE, module) if entry[0] not in skip]
    ours = [entry for entry in api(name, module) if entry[0] not in skip]
    assert _names(ours) == _names(reference)
    mine = dict(ours)
    for entry, theirs in reference:
        if mine[entry] != ("re-exported",):
            assert mine[entry] == theirs, f"{name}_impl/{module}.py: {entry} differs from {columns.REFERENCE}'s"


def _classes(name: str, module: str) -> set[str]:
    """A module's public classes, its own and re-exported."""
    tree = ast.parse((_package(name) / f"{module}.py").read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    imported = {
        alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    return defined | {entry for entry in imported if entry[:1].isupper() and not entry.isupper()}


@pytest.mark.parametrize("name", NAMES)
def test_semantics_starts_with_its_table_of_adaptations(name):
    tree = ast.parse((_package(name) / "semantics.py").read_text(encoding="utf-8"))
    definitions = (ast.Assign, ast.AnnAssign, ast.ClassDef, ast.FunctionDef)
    first = next(node for node in tree.body if isinstance(node, definitions))
    target = first.target if isinstance(first, ast.AnnAssign) else getattr(first, "targets", [None])[0]
    assert isinstance(target, ast.Name) and target.id == "ADAPTATIONS"


def test_a_difference_is_caught(tmp_path):
    """The check itself: a copy of torch's data module that lacks one function, or whose
    function takes another parameter, reads differently."""
    source = (_package(columns.REFERENCE) / "data.py").read_text(encoding="utf-8")
    reference = api(columns.REFERENCE, "data")
    for broken in (
        source.replace("def make_test_loader(", "def _make_test_loader("),
        source.replace("def numpy_batches(loader", "def numpy_batches(loaders"),
    ):
        assert broken != source
        (tmp_path / "data.py").write_text(broken, encoding="utf-8")
        assert api(columns.REFERENCE, "data", package=tmp_path) != reference


def test_a_name_missing_from_a_bound_listing_is_caught(tmp_path):
    """The Keras backends' listings bind their sections to what ``listing_sections`` makes:
    one section fewer reads differently."""
    source = (_package("keras-jax") / "listing.py").read_text(encoding="utf-8")
    bound = api("keras-jax", "listing")
    assert _names(bound) == _names(api(columns.REFERENCE, "listing"))
    broken = source.replace("training, results = listing_sections", "training = listing_sections")
    assert broken != source
    (tmp_path / "listing.py").write_text(broken, encoding="utf-8")
    assert _names(api("keras-jax", "listing", package=tmp_path)) == [n for n in _names(bound) if n != "results"]
