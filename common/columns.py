"""The registry of columns: the one place that says which frameworks twinspec compiles to.

A column is a package with the same module names as every other (``calls``, ``build``,
``data``, ``train``, ``forward``, ``weights``, ``listing``, ``activations``, ...). Its
registry line names the package, the framework family it loads, the layout its users feed
by default, and the column its parity is judged against. A family is the frameworks a set
of columns load (torch and Lightning; TensorFlow and Keras on it; Keras on JAX; Keras on
torch): two columns of one family share a process freely. A family's root package is where
what its framework must do for another one in the same process is written: a process about
to load several families calls :func:`share_process` first, and just before a framework
loads, :func:`another_family_loads` asks the other roots. Keras reads its backend once, at
import, from the environment a family sets (:func:`enter`): families whose environments
differ never share a process (:func:`sharing`), and compare, parity and report run each
family in a process of its own (``common.runs.workers``).
Nothing here imports a framework: a column is imported when it is used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from spec.errors import TwinspecError
from spec.schema import INITS, Spec


@dataclass(frozen=True)
class Family:
    name: str
    # its framework's root package: loads no framework; has share_process() and another_family_loads().
    # Keras on JAX is JAX's to make safe, Keras on torch torch's: two families may have one root.
    package: str
    # what its process's environment must say before its framework loads (Keras' KERAS_BACKEND)
    environment: tuple[tuple[str, str], ...] = ()


FAMILIES: dict[str, Family] = {}  # in the order a process that loads several loads them
_entered: list[str] = []  # the families whose frameworks this process has loaded, or is loading


def register_family(family: Family) -> Family:
    """Add a family; a test registers a throw-away one this way."""
    FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> None:
    """Remove a family, and forget that this process entered it (the throw-away test's)."""
    FAMILIES.pop(name, None)
    if name in _entered:
        _entered.remove(name)


def family_environment(name: str) -> dict[str, str]:
    """The variables family ``name``'s process sets before its framework loads."""
    return dict(FAMILIES[name].environment)


def clash(one: str, other: str) -> str | None:
    """Why families ``one`` and ``other`` cannot share a process (a variable each sets its own
    way: Keras' backend), or None."""
    theirs = dict(FAMILIES[other].environment)
    for variable, value in FAMILIES[one].environment:
        if theirs.get(variable, value) != value:
            return f"{one} needs {variable}={value}, {other} {variable}={theirs[variable]}"
    return None


def enter(family: str) -> None:
    """Just before ``family``'s framework loads in this process: its environment set (Keras
    reads KERAS_BACKEND once, at import), or one line why this process cannot load it (a
    family it has loaded sets the environment otherwise)."""
    if family in _entered:
        return
    for other in _entered:
        reason = clash(family, other)
        if reason is not None:
            raise TwinspecError(
                f"{family} cannot load in this process, which has loaded {other} ({reason}; Keras reads its"
                " backend once): run it in a process of its own, as compare, parity and report do"
            )
    os.environ.update(FAMILIES[family].environment)
    _entered.append(family)


def loads_here(family: str) -> bool:
    """Whether ``family`` can load in this process, beside the families it has loaded."""
    return all(clash(family, other) is None for other in _entered)


register_family(Family("torch", "torch_impl"))
register_family(Family("tensorflow", "tf_impl", (("KERAS_BACKEND", "tensorflow"),)))
register_family(Family("jax", "jax_impl"))
# Keras' own code on JAX and on torch: each backend's framework has its family's root.
register_family(Family("keras-jax", "jax_impl", (("KERAS_BACKEND", "jax"),)))
register_family(Family("keras-torch", "torch_impl", (("KERAS_BACKEND", "torch"),)))


@dataclass(frozen=True)
class Column:
    name: str  # what --backend takes, and the key of every result, table and JSON field
    package: str  # the importable package
    family: str  # one of FAMILIES
    native_layout: str  # nchw or nhwc: what this framework's users feed
    reference: str | None  # the column whose run this one must reproduce; None for the reference
    title: str  # the framework's name, for people
    own_init: str | None = None  # the spec's name (spec.schema.INITS) for its framework's default init, if not torch's
    runs_code_of: str | None = None  # the column whose very code this one runs on another backend (Keras')
    default: bool = True  # compare, parity and report run it unless --backends names others (all: every column)


COLUMNS: dict[str, Column] = {}


def register(column: Column) -> Column:
    """Add a column; a test registers a throw-away one this way."""
    if column.family not in FAMILIES:
        raise ValueError(f"column {column.name}: family must be one of {list(FAMILIES)}, not {column.family!r}")
    if column.own_init is not None and column.own_init not in INITS:
        raise ValueError(f"column {column.name}: own_init must be one of the spec's inits {INITS}")
    if column.reference is not None and column.reference not in COLUMNS:
        raise ValueError(f"column {column.name}: reference {column.reference!r} is not registered")
    if column.runs_code_of is not None and column.runs_code_of not in COLUMNS:
        raise ValueError(f"column {column.name}: runs_code_of {column.runs_code_of!r} is not registered")
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
# The Keras column's very code on Keras' other backends (thin packages: its modules re-exported,
# its listing with the backend line), each in a family, and so a process, of its own.
_KERAS = {"own_init": "keras", "runs_code_of": "keras", "default": False}
register(Column("keras-jax", "keras_jax_impl", "keras-jax", "nhwc", "torch", "Keras on JAX", **_KERAS))
register(Column("keras-torch", "keras_torch_impl", "keras-torch", "nhwc", "torch", "Keras on PyTorch", **_KERAS))

REFERENCE = "torch"


def names() -> list[str]:
    """Every registered column, the torch family first (the order a shared process needs)."""
    return ordered(COLUMNS)


def defaults() -> list[str]:
    """What compare, parity and report run when ``--backends`` is not given."""
    return [name for name in names() if COLUMNS[name].default]


def sharing(selected: Iterable[str]) -> list[str]:
    """The columns of ``selected`` that this process can load together, in load order: family
    by family, each that clashes neither with what the process has loaded nor with a family
    taken before it (the test session's process: every family but Keras' other backends)."""
    taken: list[str] = []
    for family in FAMILIES:
        if loads_here(family) and all(clash(family, other) is None for other in taken):
            taken.append(family)
    return [name for name in ordered(selected) if COLUMNS[name].family in taken]


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
    """``--backends a,b``: known names, each once, the reference first; in load order.
    ``all``: every registered column."""
    if text.strip() == "all":
        return names()
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
    family's environment is set (:func:`enter`: refused if two clash), and each framework's
    root makes the process safe for the others (``torch_impl``'s docstring says why torch's
    must). One family alone needs nothing, and pays nothing."""
    families = {column(name).family for name in selected}
    if len(families) > 1:
        roots: list[str] = []
        for family in FAMILIES.values():
            if family.name in families:
                enter(family.name)
                if family.package not in roots:
                    roots.append(family.package)
        for root in roots:
            importlib.import_module(root).share_process()


def layout_for(spec: Spec, name: str, override: str | None = None) -> str:
    """The layout column ``name``'s model consumes: the override, else the spec's, else the column's own."""
    return spec.layout_for(column(name).native_layout, override)


def another_family_loads(family: str) -> None:
    """Just before ``family``'s framework loads in this process: each other framework's root
    does what it must first (torch's keeps triton's native library from loading after
    TensorFlow's; JAX's keeps JAX out of a process that will not use it, which Keras on
    torch would import), without loading its own framework."""
    own = FAMILIES[family].package
    for root in dict.fromkeys(other.package for other in FAMILIES.values() if other.package != own):
        importlib.import_module(root).another_family_loads()


TEXT_MODULES = ("listing", "calls")  # a column's text: they load no framework, in any process


def load(name: str, module: str = "") -> ModuleType:
    """A column's package, or one of its modules (``load("keras", "build")``), its family's
    environment set first (:func:`enter`) unless the module is text."""
    found = column(name)
    if module and module not in TEXT_MODULES:
        enter(found.family)
    return importlib.import_module(f"{found.package}.{module}" if module else found.package)
