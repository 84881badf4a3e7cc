"""One self-contained HTML page: a lecturer opens it offline, projects it, or prints it.

No JavaScript and nothing fetched: the figures are embedded as ``data:`` PNGs and the
style sheet sits in the page, so the single file can be mailed, put on a stick, or
opened years later. All text passes through ``html.escape``; nothing the caller gives
is ever read as markup.

    page = Report("cnn1: PyTorch vs Keras")
    page.heading("The spec").preformatted(yaml_text, title="spec/models/cnn1.yaml")
    page.code_columns([("PyTorch", torch_source), ("Keras", keras_source)])
    page.table(["framework", "val accuracy"], [["torch", "98.5%"], ["keras", "98.0%"]])
    page.figures([(plots.png_bytes(fig), "loss per epoch")])
    page.write(Path("report.html"))
"""

from __future__ import annotations

import base64
import numbers
import re
import struct
from collections.abc import Sequence
from html import escape
from pathlib import Path

from common.files.atomic import atomic_write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NUM = ' class="num"'
# CSS pixels per inch of a figure: CSS' 96, times 18/16 as the page's text is 18px, not 16,
# so that a figure's 10-point labels keep their size relative to the text around them.
PX_PER_INCH = 108
# A cell that reads as a number ("0.0123", "-4", "1,200", "98.5%", "3.2 s", "1e-05") is right-aligned.
NUMBER = re.compile(r"^[+\-\u2212]?(\d[\d,_]*(\.\d*)?|\.\d+)([eE][+\-]?\d+)?\s*(%|s|ms)?$")

STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --panel: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
html { font-size: 18px; }
body {
  margin: 0; padding: 2rem 1.5rem 4rem; color: var(--ink); background: #fff; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 76rem; margin: 0 auto; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 1.5rem; padding-bottom: 0.5rem; }
h1 { font-size: 2rem; margin: 0 0 0.25rem; line-height: 1.2; }
.subtitle { color: var(--muted); margin: 0; }
h2 { font-size: 1.5rem; margin: 2.5rem 0 0.75rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.2rem; margin: 1.75rem 0 0.5rem; }
h4 { font-size: 1rem; margin: 1.25rem 0 0.5rem; }
p { margin: 0.5rem 0 1rem; max-width: 52rem; }
nav { background: var(--panel); border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem 1rem; }
nav ol { margin: 0.25rem 0; padding-left: 1.5rem; columns: 2 18rem; }
a { color: var(--accent); }
.block { margin: 1rem 0 1.5rem; }
.block-title {
  font-size: 0.85rem; font-weight: 600; color: var(--muted); margin: 0 0 0.35rem;
  text-transform: uppercase; letter-spacing: 0.04em;
}
pre {
  margin: 0; padding: 0.75rem 1rem; background: var(--panel); border: 1px solid var(--rule);
  border-radius: 6px; overflow-x: auto; font-size: 0.8rem; line-height: 1.45; tab-size: 4;
  font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
.columns { display: grid; grid-template-columns: repeat(var(--n, 2), minmax(0, 1fr)); gap: 1.25rem; }
.columns > .block { margin: 0; }
.columns pre { font-size: 0.72rem; }
.figures { display: flex; flex-wrap: wrap; gap: 1.25rem; align-items: flex-start; margin: 1rem 0 1.5rem; }
figure { flex: 1 1 22rem; margin: 0; min-width: 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 0.9rem; text-align: center; margin-top: 0.4rem; }
table { border-collapse: collapse; margin: 1rem 0 1.5rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 0.9rem; padding-bottom: 0.35rem; }
th, td { padding: 0.35rem 0.9rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); }
tbody tr:nth-child(even) { background: var(--panel); }
.num { text-align: right; }
footer {
  margin-top: 3rem; padding-top: 0.5rem; border-top: 1px solid var(--rule); color: var(--muted); font-size: 0.8rem;
}
@media (max-width: 60rem) {
  html { font-size: 16px; }
  .columns { grid-template-columns: minmax(0, 1fr); }
}
@media print {
  html { font-size: 11pt; }
  body { padding: 0; }
  main { max-width: none; }
  nav { display: none; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; }
  h2, h3, h4 { break-after: avoid; }
  figure, table, pre, .columns { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def is_number(value: object) -> bool:
    """Whether a table cell is a number (or a string that reads as one), to right-align it."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, str) and bool(NUMBER.match(value.strip()))


def _numeric_column(cells: list[object]) -> bool:
    """A column of numbers, some cells perhaps empty: its header is right-aligned too."""
    return any(is_number(v) for v in cells) and all(is_number(v) or v == "" for v in cells)


def _cell_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"  # pass a string to choose another format
    return str(value)


def _img(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inline, sized by its physical size when it records one
    (matplotlib's do): a figure of 7 inches is as wide at 100 dpi as at 200, only sharper."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("figures must be PNG bytes (common.present.plots.png_bytes)")
    width, height = struct.unpack(">II", png[16:24])
    size = ""
    dpi = _png_dpi(png)
    if dpi:
        size = f' width="{round(width / dpi * PX_PER_INCH)}" height="{round(height / dpi * PX_PER_INCH)}"'
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img src="{uri}"{size} alt="{escape(alt)}">'


def _png_dpi(png: bytes) -> float | None:
    """The dots per inch of a PNG's pHYs chunk (which must come before the image data), if any."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind == b"pHYs" and length == 9:
            per_unit, _, unit = struct.unpack(">IIB", png[pos + 8 : pos + 17])
            return per_unit * 0.0254 if unit == 1 and per_unit else None  # unit 1: per metre
        if kind == b"IDAT":
            return None
        pos += 12 + length  # length, type, data, CRC
    return None


class Report:
    """A page built block by block, in order; each method returns the report, to chain calls.

    Level-2 headings get anchors and, when there are three or more, a table of contents
    at the top of the page (hidden in print).
    """

    def __init__(self, title: str, subtitle: str = "", footer: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self.footer = footer
        self._blocks: list[str] = []
        self._sections: list[tuple[str, str]] = []  # (anchor, heading) of each level-2 heading

    def heading(self, text: str, level: int = 2) -> Report:
        """A section (level 2) or subsection (3, 4) heading."""
        if level not in (2, 3, 4):
            raise ValueError(f"heading level must be 2, 3 or 4 (the page title is the only h1), got {level}")
        if level == 2:
            anchor = f"s{len(self._sections) + 1}"
            self._sections.append((anchor, text))
            self._blocks.append(f'<h2 id="{anchor}">{escape(text)}</h2>')
        else:
            self._blocks.append(f"<h{level}>{escape(text)}</h{level}>")
        return self

    def paragraph(self, text: str) -> Report:
        """A paragraph of plain text (blank lines are not interpreted: one call, one paragraph)."""
        self._blocks.append(f"<p>{escape(text)}</p>")
        return self

    def preformatted(self, text: str, title: str = "") -> Report:
        """Text shown as written, in a monospace font: a spec's YAML, a command's output."""
        self._blocks.append(_pre(text, title))
        return self

    def code_columns(self, listings: Sequence[tuple[str, str]]) -> Report:
        """Listings side by side, one column each, in the order given (stacked on a narrow
        screen): ``(title, source)``."""
        blocks = "".join(_pre(source, title) for title, source in listings)
        self._blocks.append(f'<div class="columns" style="--n: {len(listings)}">{blocks}</div>')
        return self

    def table(self, headers: Sequence[object], rows: Sequence[Sequence[object]], caption: str = "") -> Report:
        """A table; numbers, and strings that read as numbers ("98.5%"), are right-aligned,
        and so is the header of a column of numbers. Floats are shown with 6
        significant digits: pass strings to choose another format."""
        width = len(headers)
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"table row {i} has {len(row)} cells for {width} headers")
        numeric = [_numeric_column([row[c] for row in rows]) for c in range(width)]
        head = "".join(f'<th scope="col"{_NUM if n else ""}>{escape(str(h))}</th>' for h, n in zip(headers, numeric))
        body = "".join(
            "<tr>" + "".join(f"<td{_NUM if is_number(v) else ''}>{escape(_cell_text(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        caption_html = f"<caption>{escape(caption)}</caption>" if caption else ""
        self._blocks.append(f"<table>{caption_html}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def figures(self, figures: Sequence[tuple[bytes, str]]) -> Report:
        """A row of figures side by side (wrapping on a narrow screen): ``(png_bytes, caption)``."""
        items = "".join(
            f"<figure>{_img(png, caption)}<figcaption>{escape(caption)}</figcaption></figure>"
            for png, caption in figures
        )
        self._blocks.append(f'<div class="figures">{items}</div>')
        return self

    def figure(self, png: bytes, caption: str) -> Report:
        """One figure on its own row."""
        return self.figures([(png, caption)])

    def html(self) -> str:
        """The whole page, as a string."""
        subtitle = f'<p class="subtitle">{escape(self.subtitle)}</p>' if self.subtitle else ""
        nav = ""
        if len(self._sections) >= 3:
            links = "".join(f'<li><a href="#{anchor}">{escape(text)}</a></li>' for anchor, text in self._sections)
            nav = f'<nav aria-label="contents"><ol>{links}</ol></nav>'
        footer = f"<footer>{escape(self.footer)}</footer>" if self.footer else ""
        body = "\n".join(self._blocks)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="twinspec">\n<title>{escape(self.title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            f"<header><h1>{escape(self.title)}</h1>{subtitle}</header>\n{nav}\n{body}\n{footer}\n"
            "</main>\n</body>\n</html>\n"
        )

    def write(self, path: Path, overwrite: bool = True) -> Path:
        """Write the page to ``path`` (UTF-8), whole or not at all. A file name that is not
        UTF-8 (a lone surrogate in ``str``) is written as its escape, not a failure."""
        path = Path(path)
        with atomic_write(path, overwrite=overwrite) as handle:
            handle.write(self.html().encode("utf-8", "backslashreplace"))
        return path


def _pre(text: str, title: str) -> str:
    heading = f'<p class="block-title">{escape(title)}</p>' if title else ""
    return f'<div class="block">{heading}<pre>{escape(text)}</pre></div>'
