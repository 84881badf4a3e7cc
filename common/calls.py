"""A framework's code as data: the calls and statements that each column's table describes.

Every column describes each layer kind, loss, metric and optimizer of the spec language
once, as :class:`Call`s (a constructor's or a function's dotted name and its arguments)
and, where a framework writes a model as ops, :class:`Assign` statements. ``build``
instantiates them (:func:`instantiate`, :func:`execute`) in a namespace of the framework's
modules; ``listing`` renders them as source (``common.present.source``). The listing
therefore shows, by construction, the calls that run. Nothing here imports a framework:
names are resolved in the namespace a column passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

SPREAD = "**"  # the key of a keyword item whose value is a call that returns a dict: f(**g(...))


@dataclass(frozen=True)
class Call:
    """``path(*args, **kwargs)``: ``path`` is a dotted name the namespace resolves
    (``nn.Conv2d``, ``layers.Dense``, ``self.bn1``). ``kwargs`` keeps its order, as the
    listing shows it; a :data:`SPREAD` key spreads a dict-valued call."""

    path: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    explode: bool = False  # rendered one argument a line, with a trailing comma

    def with_kwargs(self, **more: Any) -> Call:
        """The same call with more keyword arguments after its own."""
        return Call(self.path, self.args, (*self.kwargs, *more.items()), self.explode)


def call(path: str, *args: Any, **kwargs: Any) -> Call:
    """A :class:`Call`; ``spread=`` adds a trailing ``**spread``."""
    spread = kwargs.pop("spread", None)
    items = tuple(kwargs.items()) + (((SPREAD, spread),) if spread is not None else ())
    return Call(path, args, items)


class Listed(tuple):
    """A list that a listing writes one item a line (the layers of ``keras.Sequential([...])``)."""


class Items(tuple):
    """A list held as a tuple, so that a description stays hashable (JAX's compiled build takes
    it as a static argument): written ``[...]`` and made a list."""


class Name(str):
    """A dotted name looked up in the namespace when instantiated (``x``, ``self.conv1_kernel``,
    ``model.trainable_variables``), written as it is in a listing."""


@dataclass(frozen=True)
class Source:
    """Source text with the value it evaluates to (``1 / math.sqrt(9)`` and 0.333...): the
    listing shows the text, ``build`` uses the value. The listing test runs the text."""

    text: str
    value: Any


MINUS_INFINITY = Source('float("-inf")', float("-inf"))  # what a max pool's padding holds


@dataclass(frozen=True)
class Assign:
    """``target = value``, for a framework whose model is written as ops (the tf column).
    ``when``: a name in the namespace; the statement runs only if it is true (``training``)."""

    target: str
    value: Any
    comment: str = ""
    when: str | None = None


def tensor_values(values: tuple) -> Listed:
    """A tensor's values, nested tuples of numbers, as a listing writes them: nested lists,
    each outer item (a filter, a unit's row) on a line of its own."""
    return Listed(_items(value) if isinstance(value, tuple) else value for value in values)


def _items(values: tuple) -> Items:
    return Items(_items(value) if isinstance(value, tuple) else value for value in values)


def names(value: Any) -> list[str]:
    """The first part of every dotted name a description uses, in order of first use, once
    each: what its namespace must hold (and what a listing must define or import)."""
    found: dict[str, None] = {}

    def walk(item: Any) -> None:
        if isinstance(item, Call):
            found.setdefault(item.path.split(".")[0])
            for arg in item.args:
                walk(arg)
            for _, arg in item.kwargs:
                walk(arg)
        elif isinstance(item, Name):
            found.setdefault(item.split(".")[0])
        elif isinstance(item, Assign):
            walk(item.value)
        elif isinstance(item, (list, tuple)):
            for element in item:
                walk(element)

    walk(value)
    return list(found)


def resolve(path: str, namespace: Mapping[str, Any]) -> Any:
    """A dotted name: the first part from ``namespace``, the rest as attributes; or an
    expression the namespace holds whole (``optax.inject_hyperparams(optax.sgd)``)."""
    if path in namespace:
        return namespace[path]
    first, *rest = path.split(".")
    try:
        value = namespace[first]
    except KeyError:
        raise LookupError(f"{first!r} is not in the namespace (calls: {path})") from None
    for attribute in rest:
        value = getattr(value, attribute)
    return value


def instantiate(value: Any, namespace: Mapping[str, Any]) -> Any:
    """What a description evaluates to: calls made, names looked up, lists and tuples walked."""
    if isinstance(value, Call):
        args = [instantiate(arg, namespace) for arg in value.args]
        kwargs: dict[str, Any] = {}
        for key, item in value.kwargs:
            if key == SPREAD:
                kwargs.update(instantiate(item, namespace))
            else:
                kwargs[key] = instantiate(item, namespace)
        return resolve(value.path, namespace)(*args, **kwargs)
    if isinstance(value, Name):
        return resolve(value, namespace)
    if isinstance(value, Source):
        return value.value
    if isinstance(value, (list, Listed, Items)):
        return [instantiate(item, namespace) for item in value]
    if isinstance(value, tuple):
        return tuple(instantiate(item, namespace) for item in value)
    return value


def execute(statements: Iterable[Assign], namespace: MutableMapping[str, Any]) -> None:
    """Run ``statements`` in order: a plain target binds a name, ``self.attribute`` sets one."""
    for statement in statements:
        if statement.when is not None and not resolve(statement.when, namespace):
            continue
        value = instantiate(statement.value, namespace)
        owner, _, attribute = statement.target.rpartition(".")
        if owner:
            setattr(resolve(owner, namespace), attribute, value)
        else:
            namespace[attribute] = value


Substitutions = Mapping[str, Callable[[Any], Any]]  # a path or name -> what replaces its call or name


def substitute(value: Any, table: Substitutions) -> Any:
    """``value`` with every call whose path, and every name, that ``table`` lists replaced by
    what the table makes of it: how a column swaps its framework's classes for the ones that
    compute torch's semantics in lockstep (``semantics.LOCKSTEP``), arguments and all."""
    if isinstance(value, Call):
        args = tuple(substitute(arg, table) for arg in value.args)
        kwargs = tuple((key, substitute(item, table)) for key, item in value.kwargs)
        value = replace(value, args=args, kwargs=kwargs)
        return table[value.path](value) if value.path in table else value
    if isinstance(value, Name):
        return table[value](value) if value in table else value
    if isinstance(value, Assign):
        return replace(value, value=substitute(value.value, table))
    if isinstance(value, list):
        return [substitute(item, table) for item in value]
    if isinstance(value, tuple):
        return type(value)(substitute(item, table) for item in value)
    return value
