"""The registry of columns: the one place that says which frameworks twinspec compiles to.

A column is a package with the same module names as every other (``build``, ``data``,
``train``, ``runner``, ``forward``, ``weights``, ``listing``, ``activations``, ...). Its
registry line names the package, the framework family it loads (two columns of one family
may share a process freely; a process with both families calls :func:`share_process`
first and loads torch's first, see ``torch_impl``), the layout its users feed by default,
and the column its parity is judged against. Nothing here imports a framework: a column is imported when it is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from spec.errors import TwinspecError

FAMILIES = ("torch", "tensorflow")  # the order a process that uses both must load them in


@dataclass(frozen=True)
class Column:
    name: str  # what --backend takes, and the key of every result, table and JSON field
    package: str  # the importable package
    family: str  # one of FAMILIES
    native_layout: str  # nchw or nhwc: what this framework's users feed
    reference: str | None  # the column whose run this one must reproduce; None for the reference
    title: str  # the framework's name, for people
    own_init: str | None = None  # the spec init kind its framework defaults to, where it is not torch's


COLUMNS: dict[str, Column] = {}


def register(column: Column) -> Column:
    """Add a column; a test registers a throw-away one this way."""
    if column.family not in FAMILIES:
        raise ValueError(f"column {column.name}: family must be one of {FAMILIES}, not {column.family!r}")
    if column.reference is not None and column.reference not in COLUMNS:
        raise ValueError(f"column {column.name}: reference {column.reference!r} is not registered")
    COLUMNS[column.name] = column
    return column


def unregister(name: str) -> None:
    COLUMNS.pop(name, None)


register(Column("torch", "torch_impl", "torch", "nchw", None, "PyTorch"))
register(Column("lightning", "lightning_impl", "torch", "nchw", "torch", "PyTorch Lightning"))
register(Column("keras", "keras_impl", "tensorflow", "nhwc", "torch", "Keras", own_init="keras"))
register(Column("tf", "tf_impl", "tensorflow", "nhwc", "torch", "TensorFlow", own_init="keras"))

REFERENCE = "torch"


def names() -> list[str]:
    """Every registered column, the torch family first (the order a shared process needs)."""
    return ordered(COLUMNS)


def ordered(selected) -> list[str]:
    """``selected`` column names in load order: torch's family before TensorFlow's."""
    chosen = [column(name) for name in selected]
    return [c.name for c in sorted(chosen, key=lambda c: FAMILIES.index(c.family))]


def column(name: str) -> Column:
    try:
        return COLUMNS[name]
    except KeyError:
        raise TwinspecError(f"unknown backend {name!r}; registered: {', '.join(COLUMNS)}") from None


def parse_backends(text: str) -> list[str]:
    """``--backends a,b``: known names, each once, the reference first; in load order."""
    picked = [name.strip() for name in text.split(",") if name.strip()]
    if not picked:
        raise TwinspecError("--backends: name at least one backend")
    for name in picked:
        column(name)
    if len(set(picked)) != len(picked):
        raise TwinspecError(f"--backends: {text!r} names a backend twice")
    return ordered(picked)


def share_process(selected) -> None:
    """Before a process loads the ``selected`` columns: if they span both families, let the
    torch family's first column make the process safe for TensorFlow (``torch_impl``'s
    docstring says why). One family alone needs nothing, and pays nothing."""
    chosen = [column(name) for name in selected]
    if {c.family for c in chosen} == set(FAMILIES):
        torch_family = next(c for c in COLUMNS.values() if c.family == "torch")
        importlib.import_module(torch_family.package).share_with_tensorflow()


def load(name: str, module: str = "") -> ModuleType:
    """A column's package, or one of its modules (``load("keras", "runner")``)."""
    package = column(name).package
    return importlib.import_module(f"{package}.{module}" if module else package)
