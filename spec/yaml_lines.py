"""YAML loading that remembers where each value came from.

PyYAML discards positions once it builds Python objects; these containers keep the line
of every key and item so that validation can point at the offending YAML line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spec.errors import SpecError, excerpt, special_file

MAX_SPEC_BYTES = 1_000_000  # the shipped specs are about 1 KB
MAX_DEPTH = 32  # nested mappings and lists; a spec needs 4
MAX_VALUES = 100_000  # scalars, lists and mappings once aliases are expanded


class LineDict(dict):
    """A mapping with ``line`` (its own first line) and ``lines[key]``."""

    line: int
    lines: dict[Any, int]


class LineList(list):
    """A sequence with ``line`` and ``lines[index]``."""

    line: int
    lines: list[int]


class _Loader(yaml.SafeLoader):
    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """PyYAML composes recursively: refuse deep nesting before Python's stack runs out."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise SpecError(self.name, line, f"values nested more than {MAX_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise SpecError(
                    self.name, key_node.start_mark.line + 1, f"a key must be a plain name, got {excerpt(key)}"
                )
            if key in mapping:
                raise SpecError(self.name, key_node.start_mark.line + 1, f"duplicate key {excerpt(key)}")
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        seq = LineList(self.construct_object(child, deep=True) for child in node.value)
        seq.line = node.start_mark.line + 1
        seq.lines = [child.start_mark.line + 1 for child in node.value]
        return seq


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)


def _expanded_size(node: yaml.Node, path: Path, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias in it is expanded (aliases
    share nodes, so a few lines can stand for billions: the "billion laughs")."""
    key = id(node)
    if key in sizes:
        if sizes[key] < 0:
            raise SpecError(path, node.start_mark.line + 1, "an alias refers to a value that contains it")
        return sizes[key]
    sizes[key] = -1
    children = [] if isinstance(node, yaml.ScalarNode) else node.value
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in children for child in pair]
    size = 1 + sum(_expanded_size(child, path, sizes) for child in children)
    if size > MAX_VALUES:
        raise SpecError(path, node.start_mark.line + 1, f"aliases expand this to more than {MAX_VALUES} values")
    sizes[key] = size
    return size


def load_yaml(path: Path) -> Any:
    """Parse ``path``; syntax errors become a :class:`SpecError` at the right line.

    Specs are small: a file over ``MAX_SPEC_BYTES``, nesting deeper than ``MAX_DEPTH``
    or aliases that expand to more than ``MAX_VALUES`` values are refused before any of
    it is built."""
    kind = special_file(path)
    if kind is not None:  # reading a FIFO or a device would wait, or never end
        raise SpecError(path, None, f"is {kind}, not a spec file")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(path, None, f"a spec file of {size} bytes; specs are at most {MAX_SPEC_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, None, "no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, None, f"cannot read spec file: {exc}") from None
    try:
        loader = _Loader(text)  # checks that every character is printable
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(
            path, line, f"invalid YAML: character #x{exc.character:04x} is not allowed ({exc.reason})"
        ) from None
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, path, {})
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        context = exc.context or ""
        if exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" (started at line {exc.context_mark.line + 1})"
        problem = ": ".join(filter(None, [context, exc.problem]))
        raise SpecError(path, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
