"""The manual keeps its promises. README.md, DESIGN.md and docs/*.md link only to files and
headings that exist, inside the repository; the README stays a manual (at most 600 lines)
that names every pinned package and documents every command with the options the parser
really has; every ``python run.py ...`` it shows parses with the real parser (and fails,
with the very message shown, where the README shows an error); and the walk-through's cheap
commands print what the README says they print.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_here

import run
from spec import TwinspecError, load_spec, resolve_spec

README = ROOT / "README.md"
DOCUMENTS = [README, ROOT / "DESIGN.md", *sorted((ROOT / "docs").glob("*.md"))]
MAX_LINES = 600
COMMAND = re.compile(r"^(?:\$ )?(?:\.venv/bin/)?python3? run\.py(?: +(?P<args>.*))?$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?: \"[^\"]*\")?\)")
MODEL_ARGUMENTS = ("model", "show_model", "notebook_model", "report_model")


# -- reading markdown ------------------------------------------------------------------


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """The fenced code blocks: each one's info string and lines."""
    found, current, info = [], None, ""
    for line in text.splitlines():
        fence = re.match(r"^\s*(```|~~~)(.*)$", line)
        if fence and current is None:
            current, info = [], fence.group(2).strip()
        elif fence:
            found.append((info, current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    kept, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            inside = not inside
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered (a link's text, code without its
    backticks), lower case, without punctuation but ``-`` and ``_``, spaces as ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated one gets ``-1``, ``-2``, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(text).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """The targets of the inline links outside code."""
    return LINK.findall(re.sub(r"`[^`\n]*`", "", prose(text)))


def broken_links(document: Path) -> list[str]:
    """Each relative link of ``document`` that leads nowhere: no such file, a file outside the
    repository, or no such heading."""
    problems = []
    for target in links(document.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not a file of ours
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document.resolve()
        if not file.is_relative_to(ROOT.resolve()):
            problems.append(f"{target}: outside the repository")
        elif not file.exists():
            problems.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(file.read_text()):
            problems.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT.resolve())}")
    return problems


# -- the command line ------------------------------------------------------------------


def argv_of(arguments: str) -> list[str]:
    """A shown command's arguments as ``run.main`` takes them: up to a pipe or a comment,
    with ``train`` put in front where the command is left out."""
    argv = []
    for token in shlex.split(arguments or "", comments=True):
        if token == "|":
            break
        argv.append(token)
    if not argv or argv[0] not in (*run.COMMANDS, *run.RENAMED, "-h", "--help"):
        argv.insert(0, "train")
    return argv


def examples(text: str) -> list[tuple[list[str], str | None]]:
    """Every ``python run.py ...`` the text shows, in code blocks or inline code, with the
    error line shown right after it, if any."""
    found = []
    for _, lines in blocks(text):
        for i, line in enumerate(lines):
            command = COMMAND.match(line.strip())
            if command:
                after = lines[i + 1].strip() if i + 1 < len(lines) else ""
                shown_error = after if re.match(r"^(run\.py \S+: )?error: ", after) else None
                found.append((argv_of(command.group("args")), shown_error))
    for span in re.findall(r"`([^`]+)`", prose(text)):
        command = COMMAND.match(" ".join(span.split()))
        if command:
            found.append((argv_of(command.group("args")), None))
    return found


def outcome(argv: list[str]) -> str | None:
    """The error a command's arguments get before any work (the parser's, or an unknown
    spec's), as ``run.py`` prints it; None when they are good."""
    parser = run.build_parser()
    messages = []
    parser_exit = argparse.ArgumentParser.exit

    def record(self, status=0, message=None):
        messages.append(message)
        parser_exit(self, status, None)

    try:
        argparse.ArgumentParser.exit = record
        args = parser.parse_args(argv)
    except SystemExit:
        return (messages[-1] or "").strip() or "exit"
    finally:
        argparse.ArgumentParser.exit = parser_exit
    for name in MODEL_ARGUMENTS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if value.endswith((".yaml", ".yml")):
            if not (ROOT / value).exists():
                return f"error: no spec file {value}"
            continue
        try:
            resolve_spec(value)
        except TwinspecError as exc:
            return f"error: {exc}"
    return None


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = run.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def synopsis() -> dict[str, set[str]]:
    """The README's synopsis block (lines ``run.py COMMAND ...``): each command's options."""
    options: dict[str, set[str]] = {}
    for info, lines in blocks(README.read_text()):
        command = None
        for line in lines:
            head = re.match(r"^run\.py \[?([a-z-]+)\]?(?: |$)", line)
            if head:
                command = head.group(1)
            elif not line.startswith(" "):
                command = None
            if command is not None:
                options.setdefault(command, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
    return options


# -- the tests -------------------------------------------------------------------------


def test_githubs_anchors_and_the_link_finder():
    assert slug("The trainer: the book's `StepByStep`") == "the-trainer-the-books-stepbystep"
    assert slug("Lockstep: the same mathematics, to round-off") == "lockstep-the-same-mathematics-to-round-off"
    assert slug("Adding a column") == "adding-a-column"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}
    text = "[a](docs/x.md#y) `[b](no.md)` ![img](pic.png) [c](https://example.org)\n```\n[d](e.md)\n```"
    assert links(text) == ["docs/x.md#y", "https://example.org"]


def test_a_broken_link_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# Here it is\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](docs/there.md#here-it-is) [self](#top) [gone](docs/gone.md) "
        "[no anchor](docs/there.md#elsewhere) [out](../outside.md)\n# Top\n"
    )
    assert broken_links(page) == [
        "docs/gone.md: no such file",
        "docs/there.md#elsewhere: no heading #elsewhere in docs/there.md",
        "../outside.md: outside the repository",
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_of_the_repository(document):
    assert broken_links(document) == []


def test_the_readme_links_to_every_page_of_docs():
    linked = {(README.parent / link.partition("#")[0]).resolve() for link in links(README.read_text())}
    assert {page.resolve() for page in (ROOT / "docs").glob("*.md")} <= linked


def test_the_readme_is_a_manual_of_at_most_600_lines():
    assert len(README.read_text().splitlines()) <= MAX_LINES


def test_every_pinned_package_is_in_the_dependency_table():
    section = README.read_text().split("### Dependencies", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in re.findall(r"^\|([^|\n]+)\|", section, flags=re.M):
        named.update(name.strip().lower().replace("_", "-") for name in row.split(","))
    pinned = [
        re.split(r"[=<>!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pinned and {"nbformat", "nbclient", "ipykernel", "tqdm", "jax", "jaxlib", "flax", "optax"} <= set(pinned)
    assert [name for name in pinned if name not in named] == []


def test_every_command_is_documented_with_the_options_it_has():
    commands = subcommands()
    assert set(commands) == {*run.COMMANDS, *run.RENAMED}
    documented = synopsis()
    assert sorted(documented) == sorted(run.COMMANDS)  # a synopsis line for each, and no other
    for name, options in documented.items():
        real = {option for option in commands[name]._option_string_actions if option.startswith("--")} - {"--help"}
        assert options == real, (
            f"run.py {name}: the README names {sorted(options - real)} it lacks, lacks {sorted(real - options)}"
        )
    text = README.read_text()
    for old in run.RENAMED:
        assert f"`{old}`" in text  # an old name still accepted is said so


def test_every_command_example_parses_with_the_real_parser():
    shown = examples(README.read_text())
    assert len(shown) >= 20
    for argv, shown_error in shown:
        got = outcome(argv)
        if shown_error is None:
            assert got is None, f"python run.py {shlex.join(argv)}: {got}"
        else:  # the README shows this command failing: it must, with that message
            assert got == shown_error, f"python run.py {shlex.join(argv)}"


def test_the_example_checker_fails_on_what_the_parser_refuses():
    assert outcome(argv_of("--backend flax")).startswith("run.py train: error: argument --backend")
    assert outcome(argv_of("show nope")).startswith("error: unknown model 'nope'")
    assert outcome(argv_of("--epochs 0")).startswith("run.py train: error: argument --epochs")
    assert outcome(argv_of("show cnn1 --backend keras | head  # a comment")) is None


def _transcripts() -> list[tuple[list[str], list[str]]]:
    """The README's shown runs of the cheap commands (``list``, ``show``): their arguments and
    the output shown."""
    found = []
    for _, lines in blocks(README.read_text()):
        command = COMMAND.match(lines[0]) if lines and lines[0].startswith("$ ") else None
        if command:
            argv = argv_of(command.group("args"))
            if argv[0] in ("list", "show"):
                found.append((argv, lines[1:]))
    return found


def test_the_walk_through_shows_what_list_and_show_print():
    transcripts = _transcripts()
    assert ["list"] in [argv for argv, _ in transcripts]
    assert ["show", "cnn1", "--backend", "keras"] in [argv for argv, _ in transcripts]
    for argv, shown in transcripts:
        done = run_here(*argv)
        assert done.returncode == 0, done.stderr
        printed = done.stdout.splitlines()
        if "..." not in shown:
            assert printed == shown, f"run.py {shlex.join(argv)}"
            continue
        # between the "..." lines, each run of shown lines is printed as it stands, in order
        chunks, chunk = [], []
        for line in [*shown, "..."]:
            if line.strip() == "...":
                chunks, chunk = chunks + [chunk] * bool(chunk), []
            else:
                chunk.append(line)
        at = 0
        for chunk in chunks:
            starts = [i for i in range(at, len(printed) - len(chunk) + 1) if printed[i : i + len(chunk)] == chunk]
            assert starts, f"run.py {shlex.join(argv)} does not print, in this order:\n" + "\n".join(chunk)
            at = starts[0] + len(chunk)


def test_the_benchmarks_page_is_written_by_make_bench():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.startswith("<!-- Written by `make bench`")
    for field in ("**Date:**", "**CPU:**", "**Python:**", "**Libraries:**", "**Command:**"):
        assert field in text


def test_the_spec_example_is_a_spec_the_loader_takes(tmp_path):
    shown = [lines for info, lines in blocks(README.read_text()) if info == "yaml"]
    assert shown
    for i, lines in enumerate(shown):
        path = tmp_path / f"example{i}.yaml"
        path.write_text("\n".join(lines) + "\n")
        spec = load_spec(path)
        assert spec.name == load_spec(resolve_spec(spec.name)).name  # a shipped spec, as shown
