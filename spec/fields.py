"""Reading a YAML mapping field by field, with errors at the field's line.

Each checker returns the validated value or raises :class:`Invalid` naming what was
expected; :class:`Section` turns that into a :class:`SpecError` at the right line.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spec.errors import SpecError, excerpt
from spec.yaml_lines import LineDict, LineList

Checker = Callable[[Any], Any]
REQUIRED = object()


class Invalid(ValueError):
    """Raised by a checker; its message completes "must be ..."."""


def at_least(low: int, expected: str) -> Checker:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise Invalid(expected)
        return value

    return check


positive_int = at_least(1, "a positive integer")
non_negative_int = at_least(0, "a non-negative integer")


def seed(value: Any) -> int:
    """Seeds are what torch.manual_seed and numpy's seed share: 0 <= seed < 2**32."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise Invalid("an integer from 0 to 2**32 - 1")
    return value


# The frameworks compute in float32: a value of the spec must stay what it is there.
# numpy's finfo(float32).max and .tiny; spec loads no numpy, for run.py list and show.
FLOAT32_MAX = 3.4028234663852886e38  # beyond: infinity
FLOAT32_TINY = 1.1754943508222875e-38  # below: precision lost, then 0


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32, as the frameworks hold it."""
    return struct.unpack("f", struct.pack("f", value))[0]


def fraction(value: Any) -> float:
    """In [0, 1), in float32 too: a momentum, an Adam beta, a dropout probability (1 would
    drop everything: tf refuses it, torch trains on zeros)."""
    if not 0.0 <= number(value) < 1.0:
        raise Invalid("a number in [0, 1)")
    if _float32(value) == 1.0:
        raise Invalid("a number in [0, 1) in float32, which rounds this one to 1")
    return float(value)


def number(value: Any) -> float:
    """A finite number that float32 holds (a learning rate of 1e300 is infinite there)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN is no number
        raise Invalid("a number")
    if abs(value) > FLOAT32_MAX:  # infinity, or an integer too long for a float
        raise Invalid(f"a number that float32 holds (at most {FLOAT32_MAX:.3g})")
    return float(value)


def positive_number(value: Any) -> float:
    """Positive in float32 too (a std of 1e-46 is 0 there)."""
    if number(value) <= 0:
        raise Invalid("a positive number")
    if value < FLOAT32_TINY:
        raise Invalid(f"a positive number that float32 holds (at least {FLOAT32_TINY:.3g})")
    return float(value)


def non_negative_number(value: Any) -> float:
    """Zero or more: a weight decay."""
    if number(value) < 0:
        raise Invalid("a number >= 0")
    return float(value)


def probability(value: Any) -> float:
    if not 0.0 <= number(value) <= 1.0:
        raise Invalid("a probability in [0, 1]")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("true or false")
    return value


def identifier(value: Any) -> str:
    """ASCII only: every column and every listing takes such a name as it is."""
    if not isinstance(value, str) or not value.isascii() or not value.isidentifier():
        raise Invalid("a name made of ASCII letters, digits and underscores, not starting with a digit")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a non-empty string")
    return value


def one_of(*choices: str) -> Checker:
    def check(value: Any) -> str:
        if value not in choices:
            raise Invalid("one of " + ", ".join(map(str, choices)))
        return value

    return check


def number_or_word(check: Checker, *words: str, expected: str) -> Checker:
    """A number that ``check`` accepts, or one of the given words (``padding: same``)."""

    def checker(value: Any) -> int | str:
        if value in words:
            return value
        try:
            return check(value)
        except Invalid:
            raise Invalid(expected) from None

    return checker


def one_or_pair(check: Checker, expected: str) -> Checker:
    """A value ``check`` accepts, or a list of two, height then width (``kernel: [3, 5]``),
    kept as written: an int, or a tuple of two."""

    def checker(value: Any) -> Any:
        try:
            if isinstance(value, list):
                if len(value) != 2:
                    raise Invalid(expected)
                return tuple(check(v) for v in value)
            return check(value)
        except Invalid:
            raise Invalid(expected) from None

    return checker


def list_of(item: Checker, length: int | None = None) -> Checker:
    def check(value: Any) -> tuple:
        if not isinstance(value, list) or not value or (length is not None and len(value) != length):
            size = f"{length} " if length is not None else "non-empty "
            raise Invalid(f"a {size}list")
        return tuple(item(v) for v in value)

    return check


class Section:
    """One YAML mapping under validation; call :meth:`done` to reject unknown keys."""

    def __init__(self, path: Path, value: Any, where: str, line: int | None) -> None:
        if not isinstance(value, Mapping):
            raise SpecError(path, getattr(value, "line", line), f"{where or 'the spec'} must be a mapping")
        self.path = path
        self.where = where
        self.mapping = value
        self.line = getattr(value, "line", line)
        self._seen: set[str] = set()

    def name_of(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def line_of(self, key: str) -> int | None:
        lines = getattr(self.mapping, "lines", {})
        return lines.get(key, self.line)

    def error(self, key: str | None, message: str) -> SpecError:
        return SpecError(self.path, self.line_of(key) if key else self.line, message)

    def get(self, key: str, check: Checker, default: Any = REQUIRED) -> Any:
        self._seen.add(key)
        if key not in self.mapping:
            if default is REQUIRED:
                raise self.error(None, f"{self.where or 'the spec'} needs '{key}'")
            return default
        value = self.mapping[key]
        try:
            return check(value)
        except Invalid as exc:
            raise self.error(key, f"{self.name_of(key)} must be {exc}, got {excerpt(value)}") from None

    def section(self, key: str) -> Section:
        self._seen.add(key)
        if key not in self.mapping:
            raise self.error(None, f"{self.where or 'the spec'} needs '{key}'")
        return Section(self.path, self.mapping[key], self.name_of(key), self.line_of(key))

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        self._seen.add(key)
        if key not in self.mapping and default is REQUIRED:
            raise self.error(None, f"{self.where or 'the spec'} needs '{key}'")
        return self.mapping.get(key, default)

    def done(self) -> None:
        for key in self.mapping:
            if key not in self._seen:
                known = ", ".join(sorted(self._seen))
                raise self.error(key, f"unknown key {excerpt(key)} in {self.where or 'the spec'} (expected: {known})")


def single_key(
    path: Path, value: Any, where: str, line: int | None, choices: Mapping[str, Any]
) -> tuple[str, Any, int]:
    """Unpack the ``{kind: {...}}`` form used for layers, optimizers and augmentations."""
    line = getattr(value, "line", line)
    if not isinstance(value, Mapping) or len(value) != 1:
        raise SpecError(path, line, f"{where} must be a mapping with one key, one of: {', '.join(choices)}")
    ((kind, body),) = value.items()
    if kind not in choices:
        raise SpecError(path, line, f"unknown {where} {excerpt(kind)} (expected one of: {', '.join(choices)})")
    return kind, LineDict() if body is None else body, line


def as_list(path: Path, value: Any, where: str, line: int | None) -> LineList:
    if not isinstance(value, list):
        raise SpecError(path, getattr(value, "line", line), f"{where} must be a list")
    return value
