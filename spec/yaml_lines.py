"""YAML loading that remembers where each value came from.

PyYAML discards positions once it builds Python objects; these containers keep the line
of every key and item so that validation can point at the offending YAML line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spec.errors import SpecError


class LineDict(dict):
    """A mapping with ``line`` (its own first line) and ``lines[key]``."""

    line: int
    lines: dict[Any, int]


class LineList(list):
    """A sequence with ``line`` and ``lines[index]``."""

    line: int
    lines: list[int]


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise SpecError(self.name, key_node.start_mark.line + 1, f"a key must be a plain name, got {key!r}")
            if key in mapping:
                raise SpecError(self.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
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


def load_yaml(path: Path) -> Any:
    """Parse ``path``; syntax errors become a :class:`SpecError` at the right line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, None, "no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, None, f"cannot read spec file: {exc}") from None
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
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
