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
# What only the reference does: the noise floor of lockstep verdicts is torch's own run with
# round-off injected (common/parity/checks.py), so no other column needs it.
REFERENCE_ONLY = {"runner": {"train_round_off"}}
SHARED_CLASSES = {"StepByStep"}  # the book's trainer: every column's has the same methods


def _package(name: str) -> Path:
    return ROOT / columns.column(name).package


def _modules(name: str) -> set[str]:
    return {path.stem for path in _package(name).glob("*.py") if not path.stem.startswith("_") or path.stem == "__init__"}


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


def api(name: str, module: str, package: Path | None = None) -> list[tuple[str, tuple]]:
    """The public functions and classes of a column's module, in order: a function with its
    parameter names, a class with its public methods and theirs.

    A name imported from a sibling column counts as re-exported when it is one of that
    module's public functions or classes (a re-exported table or module is a table or
    module). A class that subclasses a sibling's class has that class's methods; those it
    overrides must keep their signatures (``lightning_impl.train.StepByStep``).
    """
    tree = ast.parse(((package or _package(name)) / f"{module}.py").read_text(encoding="utf-8"))
    siblings = {columns.column(other).package for other in columns.COLUMNS if other != name}
    imported: dict[str, str] = {}  # local name -> the sibling module it names
    found: list[tuple[str, tuple]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found.append((node.name, _signature(node)))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found.append((node.name, _inherited(node, imported) or _methods(node)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in siblings:
            public = _sibling_api(node.module)
            for alias in node.names:
                if alias.name in public:
                    found.append((alias.asname or alias.name, ("re-exported",)))
                elif "." not in node.module:  # from torch_impl import train as torch_train
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    exported = _all(tree)  # a module of re-exports states its order there
    return sorted(found, key=lambda entry: exported.index(entry[0])) if exported else found


def _all(tree: ast.Module) -> list[str]:
    """The module's ``__all__``, if it has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
            return [element.value for element in node.value.elts]
    return []


def _inherited(node: ast.ClassDef, imported: dict[str, str]) -> tuple | None:
    """The methods of a subclass of a sibling column's class, its overrides checked."""
    for base in node.bases:
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id in imported:
            methods = _sibling_api(imported[base.value.id])[base.attr]
            overridden = dict(_methods(node))
            assert all(overridden[m] == dict(methods).get(m) for m in overridden), f"{node.name} changes a signature"
            assert set(overridden) <= set(dict(methods)), f"{node.name} adds public methods"
            return methods
    return None


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
    """The same public functions in the same order with the same parameters, and every
    shared class (``StepByStep``) with the same public methods. Other classes are each
    framework's vocabulary (torch's ``Dataset``s, TensorFlow's ``tf.Module`` layers, a
    Keras metric), not the column's interface."""
    skip = REFERENCE_ONLY.get(module, set()) | _vocabulary(columns.REFERENCE, module) | _vocabulary(name, module)
    reference = [entry for entry in api(columns.REFERENCE, module) if entry[0] not in skip]
    ours = [entry for entry in api(name, module) if entry[0] not in skip]
    assert _names(ours) == _names(reference)
    mine = dict(ours)
    for entry, theirs in reference:
        if mine[entry] != ("re-exported",):
            assert mine[entry] == theirs, f"{name}_impl/{module}.py: {entry} differs from {columns.REFERENCE}'s"


def _vocabulary(name: str, module: str) -> set[str]:
    """A module's public classes other than the shared ones."""
    tree = ast.parse((_package(name) / f"{module}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)} - SHARED_CLASSES


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


def test_a_subclass_that_changes_a_signature_or_adds_a_method_is_caught(tmp_path):
    """Lightning's trainer subclasses torch's: overriding is allowed, changing the API is not."""
    source = (_package("lightning") / "train.py").read_text(encoding="utf-8")
    assert "class StepByStep(torch_train.StepByStep):" in source
    for broken in (
        source.replace("def set_seed(self, seed: int = 42)", "def set_seed(self, seed: int = 42, extra: int = 0)"),
        source.replace("    def set_seed(", "    def reseed(self) -> None:\n        pass\n\n    def set_seed("),
    ):
        assert broken != source
        (tmp_path / "train.py").write_text(broken, encoding="utf-8")
        with pytest.raises(AssertionError, match="StepByStep"):
            api("lightning", "train", package=tmp_path)
