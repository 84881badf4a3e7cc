"""``run.py notebook``: a spec's listings as Jupyter notebooks that run in a clean folder.

Executing starts a kernel per notebook and each imports its framework: some 15 s a column
notebook and 25 s the lecture's on a shared 2-core machine, so relu's five run through the
command and auto_test_split's lecture notebook (all four columns in one kernel) runs alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from conftest import run_here

from common import columns
from common.present import notebook
from spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
RELU = ROOT / "spec" / "models" / "relu.yaml"
NAMES = [f"relu_{name}.ipynb" for name in columns.defaults()] + ["relu_lecture.ipynb"]  # --backends' default


def outputs(cell: dict) -> str:
    return "".join("".join(output.get("text", "")) for output in cell.get("outputs", []))


def images(made: dict) -> int:
    return sum("image/png" in output.get("data", {}) for cell in made["cells"] for output in cell.get("outputs", []))


def test_every_columns_notebook_and_the_lecture_run_in_a_clean_folder(tmp_path):
    out = tmp_path / "notebooks"
    done = run_here("notebook", "relu", "--out", str(out), "--execute", "--epochs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote {', '.join(NAMES)} in {out}, with their outputs" in done.stdout
    written = sorted(path.name for path in out.iterdir())
    saved = {"torch": ".pt", "lightning": ".ckpt", "keras": ".keras", "tf": ".ckpt.index", "jax": ".msgpack"}
    assert {*NAMES, *(f"relu_{name}{suffix}" for name, suffix in saved.items())} <= set(written)
    assert not [name for name in written if name.startswith(".")]  # no staging folder left
    for name in NAMES:
        made = json.loads((out / name).read_text())
        nbformat.validate(nbformat.reads(json.dumps(made), as_version=4))
        text = "\n".join(outputs(cell) for cell in made["cells"])
        assert "Traceback" not in text and "Error" not in text
        assert images(made) >= 1, name  # the loss figure shows in the notebook
        if not name.endswith(("keras.ipynb", "lecture.ipynb")):  # Keras prints its own lines
            assert re.search(r"epoch 2/2  loss \d", text), name
        assert "validation image 0: " in text
    lecture = json.loads((out / "relu_lecture.ipynb").read_text())
    table = outputs(lecture["cells"][-1])
    assert re.search(r"^lightning .* 0\.00e\+00$", table, flags=re.MULTILINE)  # the book's run, twice
    assert [line.split()[0] for line in table.splitlines()[1:]] == columns.defaults()


def test_the_lecture_notebook_runs_every_column_in_one_kernel(tmp_path):
    spec = load_spec(ROOT / "tests" / "specs" / "auto_test_split.yaml").with_overrides(epochs=1)
    made = notebook.execute(notebook.lecture_notebook(spec), tmp_path, timeout=600, said=lambda _: None)
    table = outputs(made.cells[-1])
    assert [line.split()[0] for line in table.splitlines()[1:]] == columns.defaults()
    text = "\n".join(outputs(cell) for cell in made.cells)
    assert text.count("test_loss") >= 3  # torch, keras and tf print theirs; Lightning's table too
    assert images(made) == len(columns.defaults()) + 1


def test_a_notebook_is_a_listing_cut_at_its_sections():
    """Its code cells hold the listing after its header, line for line; a heading each."""
    spec = load_spec(RELU)
    for name in columns.names():
        made = notebook.column_notebook(spec, name)
        code = [cell.source for cell in made.cells if cell.cell_type == "code"]
        listing = columns.load(name, "listing").listing(spec)
        header = columns.load(name, "listing").header(spec)
        lines = [line for line in listing.removeprefix(header).splitlines() if line]
        assert [line for cell in code for line in cell.splitlines() if line] == lines
        headings = [cell.source for cell in made.cells if cell.cell_type == "markdown"][2:]
        empty = {"loss_and_optimizer"} if name == "lightning" else set()  # its loss lives in its LitModel
        assert headings == [f"### {title}" for section, title in notebook.SECTIONS.items() if section not in empty]
        assert made.metadata["kernelspec"]["name"] == "python3"


def test_backends_all_adds_the_notebooks_of_keras_on_jax_and_torch(tmp_path):
    """Keras on JAX and on torch have notebooks of their own (never the lecture's kernel, which
    runs Keras on TensorFlow); each is its listing, so this writes them without running them."""
    out = tmp_path / "notebooks"
    done = run_here("notebook", "relu", "--out", str(out), "--backends", "all", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = [f"relu_{name}.ipynb" for name in columns.names()] + ["relu_lecture.ipynb"]
    assert done.stdout == f"wrote {', '.join(names)} in {out}\n" and "keras-torch" in names[-2]
    made = nbformat.read(out / "relu_keras-torch.ipynb", as_version=4)
    imports = next(cell.source for cell in made.cells if cell.cell_type == "code")
    assert 'os.environ["KERAS_BACKEND"] = "torch"' in imports


def test_spec_text_reaches_the_markdown_as_text(tmp_path):
    """A title or comment with HTML or markdown of its own shows as written, never as markup."""
    path = tmp_path / "hostile.yaml"
    text = RELU.read_text().replace("title: ", "title: <img src=x onerror=alert(1)> **bold** [link](http://x) ")
    path.write_text("# a comment with <script>alert(1)</script> and `code`\n" + text)
    made = notebook.column_notebook(load_spec(path), "torch")
    intro = made.cells[0].source
    assert "<img" not in intro and "<script>" not in intro and "**bold**" not in intro and "[link](" not in intro
    assert "&lt;img src=x onerror=alert(1)&gt;" in intro and "\\*\\*bold\\*\\*" in intro
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in intro and "\\`code\\`" in intro


def test_an_existing_folder_is_kept_without_force_and_only_its_notebooks_replaced_with_it(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "relu_torch.ipynb").write_text("my own notebook")
    done = run_here("notebook", "relu", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2 and "pass --force" in done.stderr
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt", "relu_torch.ipynb"]
    assert (out / "relu_torch.ipynb").read_text() == "my own notebook"
    done = run_here("notebook", "relu", "--out", str(out), "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (out / "notes.txt").read_text() == "my notes"
    assert sorted(path.name for path in out.iterdir()) == sorted(["notes.txt", *NAMES])
    nbformat.validate(nbformat.read(out / "relu_torch.ipynb", as_version=4))


def test_a_folder_in_the_way_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "mine"
    (out / "relu_torch.ipynb").mkdir(parents=True)  # a folder where a notebook would go
    done = run_here("notebook", "relu", "--out", str(out), "--force", cwd=tmp_path)
    assert done.returncode == 2 and "relu_torch.ipynb is a directory there" in done.stderr
    assert [path.name for path in out.iterdir()] == ["relu_torch.ipynb"]
    assert [path.name for path in tmp_path.iterdir()] == ["mine"]  # no staging copy left


def test_an_unwritable_folder_fails_before_generating(tmp_path):
    (tmp_path / "a_file").write_text("")
    done = run_here("notebook", "relu", "--out", str(tmp_path / "a_file" / "nb"), cwd=tmp_path)
    assert done.returncode == 2 and "cannot be written" in done.stderr and "is not a folder" in done.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["a_file"]


def test_show_writes_a_file_and_keeps_one_without_force(tmp_path):
    out = tmp_path / "relu.py"
    done = run_here("show", "relu", "--backend", "keras", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == f"wrote {out}\n"
    assert out.read_text() == columns.load("keras", "listing").listing(load_spec(RELU))
    out.write_text("mine")
    done = run_here("show", "relu", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2 and "pass --force" in done.stderr and out.read_text() == "mine"
    assert run_here("show", "relu", "--out", str(out), "--force", cwd=tmp_path).returncode == 0
    assert out.read_text().startswith("# relu: ")
