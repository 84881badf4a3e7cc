"""Python source as ``run.py show`` writes it: the text rendering both listings share.

Values become literals, calls are laid out as black lays them out, blocks are spaced as
black spaces them, so that a generated listing reads like hand-written, formatted code.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from spec.schema import Spec

ROOT = Path(__file__).resolve().parents[2]
LINE_LENGTH = 100  # the listings' limit, as black and ruff would check them


def spec_path(spec: Spec) -> str:
    """The spec's path, relative to the repository root when it lies inside it."""
    path = spec.path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def class_source(path: Path, name: str) -> str:
    """The source of class ``name`` in the module file ``path``, decorators included, read
    as text: a listing prints the very class that runs, without importing its framework."""
    text = path.read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            lines = text.splitlines()
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            return "\n".join(lines[start : node.end_lineno])
    raise LookupError(f"{path} defines no class {name}")


def binary_loss(spec: Spec) -> bool:
    return spec.train.loss in ("bce", "bce_logits")


class Code(str):
    """Source text that goes into a listing as it is, not as a string literal."""


def code(*names: str) -> list[Code]:
    return [Code(name) for name in names]


@dataclass(frozen=True)
class Call:
    """A call, or any bracketed list: ``opening`` ends with its bracket, and the items are
    ``(prefix, value)`` pairs such as ``("lr=", 0.1)`` or ``("**", Call(...))``."""

    opening: str
    items: list[tuple[str, object]]
    closing: str = ")"
    explode: bool = False  # one item per line with a trailing comma, which black then keeps


def call_args(*args: object, **kwargs: object) -> list[tuple[str, object]]:
    return [("", arg) for arg in args] + [(f"{key}=", value) for key, value in kwargs.items()]


def literal(value: object) -> str:
    """Python source for a value of a spec: numbers, strings, lists and tuples of them."""
    if isinstance(value, Call):
        return value.opening + ", ".join(prefix + literal(item) for prefix, item in value.items) + value.closing
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(literal, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(literal, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def render(prefix: str, value: object, suffix: str = "", indent: int = 0) -> str:
    """``prefix + value + suffix`` laid out as black lays it out: on one line if it fits,
    else the items on one indented line, else one item per line with a trailing comma."""
    pad = " " * indent
    flat = pad + prefix + literal(value) + suffix
    if not isinstance(value, Call) or (len(flat) <= LINE_LENGTH and not value.explode):
        return flat
    inner = " " * (indent + 4) + ", ".join(item_prefix + literal(item) for item_prefix, item in value.items)
    if not value.explode and len(inner) <= LINE_LENGTH:
        body = [inner]
    elif not value.explode and len(value.items) == 1:
        body = [render(*value.items[0], indent=indent + 4)]
    else:
        body = [render(item_prefix, item, ",", indent + 4) for item_prefix, item in value.items]
    return "\n".join([pad + prefix + value.opening, *body, pad + value.closing + suffix])


def join_blocks(blocks: list[str]) -> str:
    """Blocks one blank line apart, and two around class and function definitions (black)."""
    text = blocks[0]
    for previous, block in zip(blocks, blocks[1:]):
        text += ("\n\n\n" if _defines(previous) or _defines(block) else "\n\n") + block
    return text + "\n"


def _defines(block: str) -> bool:
    return block.startswith(("class ", "def ", "@"))
