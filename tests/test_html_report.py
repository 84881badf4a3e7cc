"""The self-contained HTML report, rendered by a real browser (headless Chromium)."""

import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.data.lines import generate_lines
from common.present import plots
from common.present.html_report import PNG_SIGNATURE, Report, is_number
from common.runs.metrics import confusion_matrix

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("parallel", "up", "down")
INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_TIMEOUT = 60  # seconds; a page of a few hundred kB renders in 1 to 3


def chromium(*args: str, timeout: int = CHROMIUM_TIMEOUT) -> str:
    """Run headless Chromium with a fresh profile; return its stdout. Fails (never skips)
    if Chromium is missing, and kills the whole browser if it runs past ``timeout``."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(f"chromium is not installed; install Debian's package with: {INSTALL}", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        ) as process:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the browser and its helper processes
                process.communicate()
                pytest.fail(f"chromium did not finish within {timeout}s: {' '.join(command)}", pytrace=False)
    assert process.returncode == 0, f"chromium exited with {process.returncode}:\n{err[-3000:]}"
    return out


# Written into the DOM once the page has loaded, for --dump-dom to print: how many images
# decoded, and where the side-by-side blocks and a number cell landed.
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  var pair = document.querySelectorAll(".columns > .block");
  var a = pair[0].getBoundingClientRect(), b = pair[1].getBoundingClientRect();
  var probe = document.createElement("output");
  probe.id = "probe";
  probe.textContent = "IMAGES " + loaded.length + "/" + images.length
    + " COLUMNS " + (Math.abs(a.top - b.top) < 1 && b.left > a.right ? "side" : (b.top >= a.bottom ? "stacked" : "?"))
    + " NUMALIGN " + getComputedStyle(document.querySelector("td.num")).textAlign
    + " WIDTH " + Math.round(document.querySelector("main").getBoundingClientRect().width);
  document.body.appendChild(probe);
});
</script>"""


def probe_page(page: Path, tmp_path: Path, width: int) -> dict[str, str]:
    """Load a copy of ``page`` with PROBE appended, at a window ``width`` pixels wide."""
    copy = tmp_path / f"probe-{width}.html"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    dom = chromium(f"--window-size={width},1200", "--dump-dom", copy.as_uri())
    found = re.search(r'<output id="probe">([^<]*)</output>', dom)
    assert found, f"the probe did not run (no load event?); the DOM ends with:\n{dom[-2000:]}"
    words = found.group(1).split()
    return dict(zip(words[::2], words[1::2]))


def sample_report() -> tuple[Report, int]:
    """A report with every kind of block and real figures; returns it and its number of images."""
    images, labels = generate_lines(10, 40, binary=False, seed=17)
    rng = np.random.default_rng(0)
    predicted = np.where(rng.random(len(labels)) < 0.85, labels, (labels + 1) % 3)
    x = np.linspace(-5, 5, 201)
    s = 1 / (1 + np.exp(-x))
    act = {"sigmoid": (x, s, s * (1 - s)), "relu": (x, np.maximum(x, 0), (x > 0) * 1.0)}
    torch_src = (ROOT / "torch_impl" / "activations.py").read_text()
    keras_src = (ROOT / "keras_impl" / "activations.py").read_text()
    report = Report("cnn1: PyTorch vs Keras", subtitle="Chapter 5 - CNN with one 3x3 filter, three classes")
    report.heading("The model").paragraph("One spec, two frameworks. Escaped: <script>alert(1)</script> & co.")
    report.preformatted((ROOT / "spec" / "models" / "cnn1.yaml").read_text(), title="spec/models/cnn1.yaml")
    report.heading("The code").heading("Activations", level=3)
    report.code_columns([("PyTorch", torch_src), ("Keras", keras_src)])
    report.heading("Results").table(
        ["framework", "epochs", "val loss", "val accuracy", "seconds", "note"],
        [["torch", 20, 0.0123456789, "98.50%", "4.6 s", "the book's run"], ["keras", 20, 0.02, "97.00%", "6.1 s", "-"]],
        caption="After training",
    )
    curves = {
        "torch": ([1.0, 0.4, 0.2, 0.1], [1.1, 0.5, 0.3, 0.2]),
        "keras": ([0.9, 0.5, 0.25, 0.12], [1.0, 0.6, 0.3, 0.2]),
    }
    report.figures(
        [
            (plots.png_bytes(plots.losses_figure(curves, "loss")), "Loss per epoch"),
            (
                plots.png_bytes(
                    plots.confusion_figure(
                        {"torch": confusion_matrix(predicted, labels, 3), "keras": confusion_matrix(labels, labels, 3)},
                        CLASSES,
                    )
                ),
                "Confusion matrices (validation set)",
            ),
        ]
    )
    report.heading("Inside the network")
    report.figure(plots.png_bytes(plots.images_figure(images, labels, CLASSES, predicted, n=18)), "Validation images")
    weights = rng.normal(size=(1, 1, 3, 3))
    report.figures(
        [
            (plots.png_bytes(plots.filters_figure(weights, "conv1 (torch)")), "torch"),
            (plots.png_bytes(plots.filters_figure(weights * 0.9, "conv1 (keras)")), "keras"),
        ]
    )
    maps = {"conv1": rng.normal(size=(3, 1, 8, 8)), "fc2": rng.normal(size=(3, 3))}
    report.figure(
        plots.png_bytes(plots.feature_maps_figure(maps, images, labels=labels, classes=CLASSES)), "Feature maps"
    )
    report.figure(plots.png_bytes(plots.activations_figure({"torch": act, "keras": act})), "Activation functions")
    return report, 7


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, int]:
    report, n_images = sample_report()
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert report.write(path) == path
    return path, n_images


def test_page_is_self_contained_and_escaped(written):
    path, n_images = written
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page  # no JavaScript, and the paragraph's script came out as text
    assert "Escaped: &lt;script&gt;alert(1)&lt;/script&gt; &amp; co." in page
    assert page.count('src="data:image/png;base64,') == n_images
    assert not re.search(r'(src|href)="(?!data:image/png;base64,|#s\d+")', page)  # nothing fetched
    assert "http://" not in page and "https://" not in page and "@import" not in page and "url(" not in page
    # three level-2 headings or more: a table of contents links them
    assert re.findall(r'<a href="#(s\d+)">', page) == ["s1", "s2", "s3", "s4"]
    assert "<h3>Activations</h3>" in page
    # a figure is sized by its inches (the 7 x 4 loss figure), whatever its dpi: 108 CSS px an inch
    assert 'width="756" height="432" alt="Loss per epoch"' in page
    assert '<p class="block-title">PyTorch</p>' in page and '<p class="block-title">Keras</p>' in page


def test_table_right_aligns_numbers(written):
    page = written[0].read_text(encoding="utf-8")
    assert '<td class="num">0.0123457</td>' in page  # a float: 6 significant digits
    assert '<td class="num">98.50%</td>' in page and '<td class="num">4.6 s</td>' in page
    assert "<td>the book&#x27;s run</td>" in page and "<td>-</td>" in page
    assert '<th scope="col" class="num">val accuracy</th>' in page and '<th scope="col">note</th>' in page
    assert [is_number(v) for v in [3, 2.5, "1,200", "-0.5", "1e-05", "98%", "\u22123", True, "", "v1", "cnn1"]] == [
        True, True, True, True, True, True, True, False, False, False, False,
    ]  # fmt: skip


def test_bad_input_is_refused(tmp_path):
    report = Report("x")
    with pytest.raises(ValueError, match="PNG"):
        report.figure(b"GIF89a...", "not a png")
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 headers"):
        report.table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="level"):
        report.heading("x", level=1)


def test_write_replaces_the_page_whole(tmp_path):
    path = tmp_path / "page.html"
    Report("first").write(path)
    Report("second").paragraph("p").write(path)
    assert "<title>second</title>" in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_chromium_loads_every_image_and_lays_out_columns(written, tmp_path):
    path, n_images = written
    wide = probe_page(path, tmp_path, 1400)
    assert wide["IMAGES"] == f"{n_images}/{n_images}", wide
    assert wide["COLUMNS"] == "side" and wide["NUMALIGN"] == "right", wide
    narrow = probe_page(path, tmp_path, 700)
    assert narrow["IMAGES"] == f"{n_images}/{n_images}", narrow
    assert narrow["COLUMNS"] == "stacked", narrow
    assert int(narrow["WIDTH"]) < int(wide["WIDTH"]) <= 76 * 18  # max width: 76rem of 18px


def test_chromium_screenshot_is_not_blank(written, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,2000", written[0].as_uri())
    png = shot.read_bytes()
    assert png[:8] == PNG_SIGNATURE
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.shape == (2000, 1400, 3)
    not_white = (pixels < 245).any(axis=2).mean()
    assert not_white > 0.03, f"only {not_white:.1%} of the screenshot is drawn"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, figures, not a flat page
    if os.environ.get("TWINSPEC_KEEP_SHOT"):  # to look at it: TWINSPEC_KEEP_SHOT=path pytest ...
        shutil.copy(shot, os.environ["TWINSPEC_KEEP_SHOT"])
