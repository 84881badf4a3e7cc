"""One table for every benchmark: a row per figure, with its target and whether it is met."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    section: str
    what: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: no target, or nothing measured (``figure`` says why)


def render(rows: list[Row]) -> str:
    """The rows as aligned text, a blank line between sections."""
    if not rows:
        return ""
    widths = [max(len(getattr(row, field)) for row in rows) for field in ("section", "what", "figure", "target")]
    lines, section = [], None
    for row in rows:
        if section is not None and row.section != section:
            lines.append("")
        section = row.section
        verdict = {True: "met", False: "MISSED", None: ""}[row.met]
        cells = [row.section, row.what, row.figure, row.target]
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + "  " + verdict)
    return "\n".join(line.rstrip() for line in lines)
