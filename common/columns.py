"""The registry of columns: the one place that says which frameworks twinspec compiles to.

A column is a package with the same module names as every other (``calls``, ``build``,
``data``, ``train``, ``forward``, ``weights``, ``listing``, ``activations``, ...). Its
registry line names the package, the framework family it loads, the layout its users feed
by default, and the column its parity is judged against. A family is the frameworks a set
of columns load (torch and Lightning; TensorFlow and Keras): two columns of one family
share a process freely. A family's root package is where what the family must do for
another one in the same process is written: a process about to load several families calls
:func:`share_process` first, and a family's root calls :func:`another_family_loads` just
before its framework loads.
Nothing here imports a framework: a column is imported when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from spec.errors import TwinspecError
from spec.schema import INITS, Spec


@dataclass(frozen=True)
class Family:
    name: str
    package: str  # its root package: loads no framework; has share_process() and another_family_loads()
    # what its process's environment must say before its framework loads (Keras' KERAS_BACKEND)
    environment: tuple[tuple[str, str], ...] = ()


FAMILIES: dict[str, Family] = {}  # in the order a process that loads several loads them


def register_family(family: Family) -> Family:
    """Add a family; a test registers a throw-away one this way."""
    FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> None:
    FAMILIES.pop(name, None)


def family_environment(name: str) -> dict[str, str]:
    """The variables family ``name``'s process sets before its framework loads."""
    return dict(FAMILIES[name].environment)


register_family(Family("torch", "torch_impl"))
register_family(Family("tensorflow", "tf_impl"))
register_family(Family("jax", "jax_impl"))


@dataclass(frozen=True)
class Column:
    name: str  # what --backend takes, and the key of every result, table and JSON field
    package: str  # the importable package
    family: str  # one of FAMILIES
    native_layout: str  # nchw or nhwc: what this framework's users feed
    reference: str | None  # the column whose run this one must reproduce; None for the reference
    title: str  # the framework's name, for people
    own_init: str | None = None  # the spec's name (spec.schema.INITS) for its framework's default init, if not torch's


COLUMNS: dict[str, Column] = {}


def register(column: Column) -> Column:
    """Add a column; a test registers a throw-away one this way."""
    if column.family not in FAMILIES:
        raise ValueError(f"column {column.name}: family must be one of {list(FAMILIES)}, not {column.family!r}")
    if column.own_init is not None and column.own_init not in INITS:
        raise ValueError(f"column {column.name}: own_init must be one of the spec's inits {INITS}")
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
# Flax's own default kernels (lecun-normal) are neither of the spec's inits: the column draws the spec's.
register(Column("jax", "jax_impl", "jax", "nhwc", "torch", "JAX (Flax NNX)"))

REFERENCE = "torch"


def names() -> list[str]:
    """Every registered column, the torch family first (the order a shared process needs)."""
    return ordered(COLUMNS)


def ordered(selected: Iterable[str]) -> list[str]:
    """``selected`` column names in load order: family by family, as registered."""
    order = list(FAMILIES)
    chosen = [column(name) for name in selected]
    return [c.name for c in sorted(chosen, key=lambda c: order.index(c.family))]


def column(name: str) -> Column:
    try:
        return COLUMNS[name]
    except KeyError:
        raise TwinspecError(f"unknown column {name!r}; registered: {', '.join(COLUMNS)}") from None


def parse_columns(text: str) -> list[str]:
    """``--backends a,b``: known names, each once, the reference first; in load order."""
    picked = [name.strip() for name in text.split(",") if name.strip()]
    if not picked:
        raise TwinspecError("--backends: name at least one column")
    for name in picked:
        column(name)
    if len(set(picked)) != len(picked):
        raise TwinspecError(f"--backends: {text!r} names a column twice")
    return ordered(picked)


def share_process(selected: Iterable[str]) -> None:
    """Before a process loads the ``selected`` columns: if they span several families, each
    family's root makes the process safe for the others (``torch_impl``'s docstring says
    why torch's must). One family alone needs nothing, and pays nothing."""
    families = {column(name).family for name in selected}
    if len(families) > 1:
        for family in FAMILIES.values():
            if family.name in families:
                importlib.import_module(family.package).share_process()


def layout_for(spec: Spec, name: str, override: str | None = None) -> str:
    """The layout column ``name``'s model consumes: the override, else the spec's, else the column's own."""
    return spec.layout_for(column(name).native_layout, override)


def another_family_loads(family: str) -> None:
    """Just before ``family``'s framework loads in this process: each other family's root
    does what it must first (torch's keeps triton's native library from loading after
    TensorFlow's), without loading its own framework."""
    for other in FAMILIES.values():
        if other.name != family:
            importlib.import_module(other.package).another_family_loads()


def load(name: str, module: str = "") -> ModuleType:
    """A column's package, or one of its modules (``load("keras", "runner")``)."""
    package = column(name).package
    return importlib.import_module(f"{package}.{module}" if module else package)
