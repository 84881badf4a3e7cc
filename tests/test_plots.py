"""The lecture figures: each draws real pixels, and draws them the right way round."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from PIL import Image

from common.data.colors import CLASS_NAMES as COLOR_NAMES
from common.data.colors import generate_colors
from common.data.lines import generate_lines
from common.present import plots
from common.present.html_report import PNG_SIGNATURE
from common.runs.metrics import confusion_matrix, per_class_counts

LINE_CLASSES = ("parallel", "up", "down")


def decoded(png: bytes) -> np.ndarray:
    """A PNG's pixels as RGB, after checking that it is a PNG that is not one flat colour."""
    assert png[:8] == PNG_SIGNATURE
    image = Image.open(io.BytesIO(png))
    image.load()
    pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 2, "the figure is blank"
    return pixels


def images_of(fig: Figure) -> list[AxesImage]:
    return [image for ax in fig.axes for image in ax.get_images()]


def numpy_curves(x: np.ndarray, shift: float = 0.0) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    s = 1 / (1 + np.exp(-x))
    return {
        "sigmoid": (x, s + shift, s * (1 - s)),
        "tanh": (x, np.tanh(x), 1 - np.tanh(x) ** 2),
        "relu": (x, np.maximum(x, 0), (x > 0).astype(float)),
        "leaky_relu": (x, np.where(x > 0, x, 0.01 * x), np.where(x > 0, 1, 0.01)),
        "prelu": (x, np.where(x > 0, x, 0.25 * x), np.where(x > 0, 1, 0.25)),
    }


def test_losses_figure_overlays_both_backends_on_a_log_scale():
    curves = {"torch": ([1.0, 0.5, 0.2], [1.1, 0.6, 0.3]), "keras": ([0.9, 0.4, 0.1], [1.0, 0.5, 0.25])}
    fig = plots.losses_figure(curves, title="cnn1")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_title() == "cnn1"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"torch training", "torch validation", "keras training", "keras validation"}
    assert lines["torch training"].get_linestyle() == "-" and lines["torch validation"].get_linestyle() == "--"
    assert lines["torch training"].get_color() == lines["torch validation"].get_color()
    assert lines["torch training"].get_color() != lines["keras training"].get_color()
    assert list(lines["keras validation"].get_xdata()) == [1, 2, 3]  # epochs count from 1
    decoded(plots.png_bytes(fig))


def test_losses_figure_keeps_curves_that_coincide_visible():
    """Lockstep: every backend's curves on top of each other, a thick pale line under marked ones."""
    same = ([1.0, 0.5, 0.2], [1.1, 0.6, 0.3])
    (ax,) = plots.losses_figure({"torch": same, "keras": same, "tf": same}).axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    for kind in ("training", "validation"):
        torch_line, keras_line, tf_line = (lines[f"{name} {kind}"] for name in ("torch", "keras", "tf"))
        assert torch_line.get_linewidth() > keras_line.get_linewidth() > tf_line.get_linewidth()
        assert torch_line.get_alpha() < 1 and torch_line.get_marker() in ("", "None", None)
        assert keras_line.get_marker() != tf_line.get_marker() and tf_line.get_marker() not in ("", "None", None)
        assert list(keras_line.get_ydata()) == list(torch_line.get_ydata())


def test_png_bytes_embeds_at_a_higher_dpi_with_the_dpi_recorded():
    fig = plots.losses_figure({"torch": ([1.0, 0.5], [1.2, 0.7])})
    image = Image.open(io.BytesIO(plots.png_bytes(fig)))
    assert image.size == (7 * plots.EMBED_DPI, 4 * plots.EMBED_DPI)  # 7 x 4 inches
    # PNG stores whole pixels per metre: the dpi read back is off by up to 0.5 / 39.37 = 0.0127
    assert image.info["dpi"] == pytest.approx((plots.EMBED_DPI, plots.EMBED_DPI), abs=0.0127)


def test_save_png_writes_whole_files(tmp_path):
    path = plots.save_png(plots.losses_figure({"torch": ([1.0, 0.5], [1.2, 0.7])}, title="t"), tmp_path / "loss.png")
    assert path == tmp_path / "loss.png"
    decoded(path.read_bytes())
    fig = plots.confusion_figure({"torch": np.eye(2, dtype=np.int64)}, ["a", "b"])
    plots.save_png(fig, path)  # over an existing file
    assert path.read_bytes() == plots.png_bytes(fig, dpi=None)  # both at the figure's dpi
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]  # no temporary file left behind


def test_images_figure_titles_carry_class_names_and_mark_mistakes():
    images, labels = generate_lines(10, 12, binary=False, seed=17)
    predictions = labels.copy()
    predictions[3] = (labels[3] + 1) % 3
    fig = plots.images_figure(images, labels, LINE_CLASSES, predictions=predictions, n=8, columns=4)
    drawn = [ax for ax in fig.axes if ax.get_images()]
    assert len(drawn) == 8
    for i, ax in enumerate(drawn):
        title = ax.get_title()
        assert title.startswith(f"#{i} {LINE_CLASSES[labels[i]]}\n")
        assert LINE_CLASSES[predictions[i]] in title.splitlines()[1]
    assert drawn[3].title.get_color() == plots.WRONG and "\u2717" in drawn[3].get_title()
    assert drawn[2].title.get_color() != plots.WRONG and "\u2713" in drawn[2].get_title()
    # grayscale, uint8 read on a fixed 0..255 scale
    assert drawn[0].get_images()[0].get_clim() == (0.0, 1.0)
    np.testing.assert_array_equal(drawn[0].get_images()[0].get_array(), images[0, 0] / 255)
    decoded(plots.png_bytes(fig))


def test_images_figure_draws_rgb_in_channel_order():
    images, labels = generate_colors(12, 6, seed=3)
    fig = plots.images_figure(images, labels, COLOR_NAMES)
    assert [ax.get_title() for ax in fig.axes if ax.get_images()] == [
        f"#{i} {COLOR_NAMES[label]}" for i, label in enumerate(labels)
    ]
    drawn = images_of(fig)[0].get_array()
    np.testing.assert_allclose(drawn, images[0].transpose(1, 2, 0) / 255, rtol=0, atol=1e-7)
    # floats in [0, 1] draw the same pixels as the uint8 they come from
    floats = plots.images_figure(images.astype(np.float32) / 255, labels, COLOR_NAMES)
    np.testing.assert_allclose(images_of(floats)[0].get_array(), drawn, rtol=0, atol=1e-7)
    decoded(plots.png_bytes(fig))


def test_images_figure_refuses_other_channel_counts():
    with pytest.raises(ValueError, match="C = 1 or 3"):
        plots.images_figure(np.zeros((2, 2, 5, 5), np.uint8), [0, 1], ["a", "b"])


def test_activations_figure_overlays_each_framework_in_its_own_style():
    x = np.linspace(-4, 4, 81)
    fig = plots.activations_figure({"torch": numpy_curves(x), "keras": numpy_curves(x)})
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in panels] == ["Sigmoid", "Tanh", "ReLU", "Leaky ReLU", "PReLU"]
    for ax in panels:
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == len(x)]
        assert len(curves) == 4  # f and f' for each framework
        torch_f, torch_df, keras_f, keras_df = curves
        assert torch_f.get_linestyle() != keras_f.get_linestyle()
        assert keras_f.get_marker() not in ("", "None", None)
    relu = panels[2].get_lines()[-1].get_ydata()  # keras' relu gradient
    assert set(relu[x < 0]) == {0.0} and set(relu[x > 0]) == {1.0}
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "torch: f(x)",
        "torch: f\u2032(x)",
        "keras: f(x)",
        "keras: f\u2032(x)",
    ]
    decoded(plots.png_bytes(fig))


def test_filters_figure_keeps_orientation_in_the_drawn_pixels():
    weights = np.zeros((1, 1, 3, 3), np.float32)
    weights[0, 0, 0, 0] = 1.0  # one bright top-left pixel
    fig = plots.filters_figure(weights, "conv1")
    (image,) = images_of(fig)
    assert image.origin == "upper"
    np.testing.assert_array_equal(image.get_array(), weights[0, 0])
    assert image.get_clim() == (-1.0, 1.0)  # symmetric about zero
    pixels = decoded(plots.png_bytes(fig, dpi=fig.dpi))
    box = image.axes.get_window_extent()  # display pixels, origin bottom left, at the figure's (and PNG's) dpi
    cell_w, cell_h = box.width / 3, box.height / 3

    def pixel(row: int, col: int) -> np.ndarray:  # near a cell's corner, away from its value's text
        x = box.x0 + (col + 0.15) * cell_w
        y = box.y1 - (row + 0.15) * cell_h
        return pixels[int(round(pixels.shape[0] - y)), int(round(x))]

    bright = np.array(image.cmap(image.norm(1.0))[:3]) * 255
    zero = np.array(image.cmap(image.norm(0.0))[:3]) * 255
    np.testing.assert_allclose(pixel(0, 0), bright, atol=2)
    for row, col in [(0, 2), (2, 0), (2, 2), (1, 1)]:
        np.testing.assert_allclose(pixel(row, col), zero, atol=2)


def test_filters_figure_grid_shares_one_symmetric_scale():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(4, 3, 5, 5))
    weights[2, 1, 4, 4] = -7.0  # the largest magnitude is negative
    fig = plots.filters_figure(weights, "conv2")
    drawn = images_of(fig)
    assert len(drawn) == 12
    assert {image.get_clim() for image in drawn} == {(-7.0, 7.0)}
    # row-major: filter o, channel c is panel o * 3 + c
    np.testing.assert_array_equal(drawn[2 * 3 + 1].get_array(), weights[2, 1])
    assert fig.get_suptitle() == "conv2\n4 \u00d7 3 kernels of 5 \u00d7 5"
    assert plots.filters_figure(weights, "conv2", vmax=10.0).axes[0].get_images()[0].get_clim() == (-10.0, 10.0)
    decoded(plots.png_bytes(fig))


def test_filters_figure_caps_large_layers_and_says_so():
    fig = plots.filters_figure(np.ones((20, 10, 3, 3)), "C5", max_filters=16, max_channels=8)
    assert len(images_of(fig)) == 16 * 8
    assert fig.get_suptitle().endswith("\nshowing filters 0-15 of 20, channels 0-7 of 10")
    assert plots.filters_figure(np.ones((20, 1, 3, 3)), "C").get_suptitle().endswith("\nshowing filters 0-15 of 20")
    with pytest.raises(ValueError, match=r"\(out, in, kh, kw\)"):
        plots.filters_figure(np.ones((3, 3)), "fc")


def test_feature_maps_figure_shows_input_then_each_layer():
    images, labels = generate_lines(10, 5, binary=False, seed=17)
    rng = np.random.default_rng(1)
    outputs = {"conv1": rng.normal(size=(5, 2, 8, 8)), "fc2": rng.normal(size=(5, 3)), "flat": rng.random((5, 40))}
    fig = plots.feature_maps_figure(outputs, images, n=3, labels=labels, classes=LINE_CLASSES)
    titled = [ax.get_title(loc="left") or ax.get_title() for ax in fig.axes[:5]]
    assert titled == ["input", "conv1:0", ":1", "fc2 (3)", "flat (40)"]
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_title() == "input" or ax.get_ylabel()] == [
        LINE_CLASSES[label] for label in labels[:3]
    ]
    # per image: input, 2 channels, bars, strip
    assert len(fig.axes) == 3 * 5
    conv = [ax.get_images()[0] for ax in fig.axes if ax.get_images()][1:3]
    np.testing.assert_array_equal(conv[1].get_array(), outputs["conv1"][0, 1])
    assert conv[0].get_clim() == conv[1].get_clim() == (outputs["conv1"][:3].min(), outputs["conv1"][:3].max())
    bars = fig.axes[3].patches
    np.testing.assert_allclose([bar.get_height() for bar in bars], outputs["fc2"][0])
    decoded(plots.png_bytes(fig))
    with pytest.raises(ValueError, match="layer bad"):
        plots.feature_maps_figure({"bad": np.zeros((5, 2, 3))}, images)


def test_confusion_matrix_counts_rows_true_columns_predicted():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 1, 0, 1, 1, 0, 2, 2, 1])
    matrix = confusion_matrix(predicted, labels, 3)
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, [[2, 1, 0], [0, 2, 0], [1, 1, 2]])
    per_class = per_class_counts(predicted, labels, 3)
    assert per_class.dtype == np.int64
    assert per_class.tolist() == [[int(matrix[c, c]), int(matrix[c].sum())] for c in range(3)]
    outside = per_class_counts(np.append(predicted, [3, 0]), np.append(labels, [3, -1]), 3)
    np.testing.assert_array_equal(outside, per_class)  # labels of no class count nowhere
    np.testing.assert_array_equal(confusion_matrix([], [], 2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix([3], [0], 3)
    with pytest.raises(ValueError, match="2 predictions for 1 labels"):
        confusion_matrix([0, 1], [0], 3)


def test_confusion_figure_writes_counts_side_by_side():
    torch_m = np.array([[5, 1, 0], [0, 6, 0], [2, 0, 4]])
    keras_m = np.array([[6, 0, 0], [1, 5, 0], [0, 0, 6]])
    fig = plots.confusion_figure({"torch": torch_m, "keras": keras_m}, LINE_CLASSES)
    left, right = fig.axes
    assert left.get_title() == "torch: accuracy 83.3%" and right.get_title() == "keras: accuracy 94.4%"
    assert left.get_position().x1 <= right.get_position().x0  # side by side
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in left.texts}
    assert texts == {(r, c): str(torch_m[r, c]) for r in range(3) for c in range(3)}
    assert [t.get_text() for t in left.get_yticklabels()] == list(LINE_CLASSES)
    assert left.get_ylabel() == "true" and left.get_xlabel() == "predicted"
    decoded(plots.png_bytes(fig))
