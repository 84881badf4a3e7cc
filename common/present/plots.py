"""Figures, built with matplotlib's object API so that no global backend is touched.

Every ``*_figure`` function returns a ``matplotlib.figure.Figure`` and draws nothing on
screen: a run directory saves it with ``save_png``, the HTML report embeds ``png_bytes``.
They take framework-free arrays in the canonical layouts of ``common`` (images and
feature maps ``(N, C, H, W)``, conv kernels ``(out, in, kh, kw)`` as torch stores them),
so that every column's results go through the same drawing code and look alike.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from common.files.atomic import atomic_write
from spec.errors import TwinspecError

EMBED_DPI = 150  # png_bytes: sharp when the report shows a figure at its size in inches
WRONG = "#c62828"  # a misclassified image's title and frame
FRAMEWORK_STYLES = (  # line styles per framework: a thick pale line under a dotted, marked one
    {"linestyle": "-", "linewidth": 4.0, "alpha": 0.45},
    {"linestyle": ":", "linewidth": 1.8, "marker": "o", "markersize": 4, "markerfacecolor": "none"},
    {"linestyle": "--", "linewidth": 1.2, "marker": "x", "markersize": 4},
)
ACTIVATION_NAMES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "leaky_relu": "Leaky ReLU", "prelu": "PReLU"}


def save_png(fig: Figure, path: Path, dpi: float | None = None) -> Path:
    """Write ``fig`` as a PNG that appears whole or not at all (a run directory is read while written)."""
    with atomic_write(Path(path)) as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    return Path(path)


def png_bytes(fig: Figure, dpi: float | None = EMBED_DPI) -> bytes:
    """``fig`` as PNG bytes, for embedding (the HTML report). The PNG records its dpi, and
    the report sizes a figure by its inches, so a higher dpi only makes it sharper (on a
    projector, or printed); ``dpi=None`` takes the figure's own (100)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# Loss curves


def losses_figure(
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
    rates: dict[str, Sequence[float]] | None = None,
) -> Figure:
    """Training (solid) and validation (dashed) loss per epoch, one colour per label; below
    them, where a scheduler moved it, every step's learning rate (``rates``, per label).

    Every column goes on the same axes so that their runs are compared at a glance; the y
    axis is logarithmic because losses fall by orders of magnitude. In lockstep the curves
    coincide, so each column also has its width and markers (``FRAMEWORK_STYLES``): a
    thick pale line under thin marked ones, all visible on top of each other.
    """
    scheduled = {label: r for label, r in (rates or {}).items() if len(set(r)) > 1 and curves[label][0]}
    fig = Figure(figsize=(7, 5.5 if scheduled else 4), dpi=100, layout="constrained")
    if scheduled:
        ax, rate_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        _rates(rate_ax, scheduled, {label: len(curves[label][0]) for label in scheduled})
    else:
        ax = fig.subplots()
    for i, (label, (train, val)) in enumerate(curves.items()):
        style = {key: value for key, value in FRAMEWORK_STYLES[i % len(FRAMEWORK_STYLES)].items() if key != "linestyle"}
        ax.plot(range(1, len(train) + 1), train, color=f"C{i}", label=f"{label} training", **style)
        ax.plot(range(1, len(val) + 1), val, color=f"C{i}", linestyle="--", label=f"{label} validation", **style)
    if not scheduled:
        ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _rates(ax: Axes, rates: dict[str, Sequence[float]], epochs: dict[str, int]) -> None:
    """Every step's learning rate, each step at its place in its epoch (step k of n ends at
    epoch - 1 + k / n), on the loss axes' epochs."""
    for i, (label, values) in enumerate(rates.items()):
        style = {key: value for key, value in FRAMEWORK_STYLES[i % len(FRAMEWORK_STYLES)].items() if key != "linestyle"}
        style["markersize"] = 0  # a mark per step would hide the line
        steps = np.arange(1, len(values) + 1) * epochs[label] / len(values)
        ax.plot(steps, values, color=f"C{i}", label=f"{label} learning rate", **style)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)


# Learning-rate range test


def lr_range_figure(lrs: Sequence[float], losses: Sequence[float], step_mode: str = "exp") -> Figure:
    """The range test's smoothed loss against the learning rate, as the book draws it: pick
    a rate where the loss still falls steeply, before it turns up."""
    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.plot(lrs, losses)
    if step_mode == "exp":
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    ax.grid(True, alpha=0.3)
    return fig


# Images


def _displayable(image: np.ndarray) -> tuple[np.ndarray, dict]:
    """A canonical ``(C, H, W)`` image as ``imshow`` wants it, with the arguments that
    pin its value range (so that a dark image stays dark instead of being stretched)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected an image of shape (C, H, W) with C = 1 or 3, got {image.shape}")
    if image.dtype == np.uint8:
        scaled = image.astype(np.float32) / 255
    else:
        scaled = np.clip(image.astype(np.float32), 0.0, 1.0)  # floats: [0, 1], as after common.data.prep.scale
    if image.shape[0] == 1:
        return scaled[0], {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
    return scaled.transpose(1, 2, 0), {}


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def images_figure(
    images: np.ndarray,
    labels: Sequence[int],
    classes: Sequence[str],
    predictions: Sequence[int] | None = None,
    n: int = 30,
    columns: int = 6,
) -> Figure:
    """The first ``n`` images in a montage, as the book's ``plot_images``: each titled with
    its number and class name and, given ``predictions``, the predicted class, in red and
    framed in red when it is wrong, so that a lecturer can point at the mistakes.

    ``images`` are canonical ``(N, C, H, W)``: uint8, or floats in [0, 1] (clipped);
    C = 1 is drawn in grayscale, C = 3 as RGB.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {images.shape}")
    count = min(n, len(images))
    if count == 0:
        raise ValueError("no images to draw")
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    height = 1.7 if predictions is not None else 1.5
    fig = Figure(figsize=(1.5 * cols, height * rows + 0.2), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        _bare(ax)
        if i >= count:
            ax.set_axis_off()
            continue
        pixels, scale = _displayable(images[i])
        ax.imshow(pixels, interpolation="nearest", **scale)
        title = f"#{i} {classes[int(labels[i])]}"
        if predictions is None:
            ax.set_title(title, fontsize=9)
            continue
        predicted = int(predictions[i])
        if predicted == int(labels[i]):
            ax.set_title(f"{title}\n\u2192 {classes[predicted]} \u2713", fontsize=9)
        else:
            ax.set_title(f"{title}\n\u2192 {classes[predicted]} \u2717", fontsize=9, color=WRONG)
            for spine in ax.spines.values():
                spine.set(color=WRONG, linewidth=2.5)
    return fig


# Activation functions


def activations_figure(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]) -> Figure:
    """One panel per activation function, with its values f(x) and its gradient f'(x) as
    each framework computes them (``curves[framework][activation] = (x, f, df/dx)``).

    The frameworks' curves are overlaid in different line styles (a thick pale line, a
    dotted line with hollow markers) so that where they coincide, as they should, both
    are still visible; a framework that disagrees shows as a line leaving the other.
    """
    names: list[str] = []
    for by_name in curves.values():
        names += [name for name in by_name if name not in names]
    if not names:
        raise ValueError("no activation curves to draw")
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.5), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.8)
        for i, by_name in enumerate(curves.values()):
            if name not in by_name:
                continue
            x, y, dy = (np.asarray(a) for a in by_name[name])
            style = dict(FRAMEWORK_STYLES[i % len(FRAMEWORK_STYLES)])
            if "marker" in style:
                style["markevery"] = max(1, len(x) // 16)
            ax.plot(x, y, color="C0", **style)
            ax.plot(x, dy, color="C3", **style)
        ax.set_title(ACTIVATION_NAMES.get(name, name))
        ax.set_xlabel("x")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    handles, labels = [], []
    for i, framework in enumerate(curves):
        style = FRAMEWORK_STYLES[i % len(FRAMEWORK_STYLES)]
        for color, what in (("C0", "f(x)"), ("C3", "f\u2032(x)")):
            handles.append(Line2D([], [], color=color, **style))
            labels.append(f"{framework}: {what}")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    return fig


# Convolution kernels


def filters_figure(
    weights: np.ndarray,
    layer: str,
    max_filters: int = 16,
    max_channels: int = 8,
    vmax: float | None = None,
) -> Figure:
    """A conv layer's kernels, canonical ``(out, in, kh, kw)`` (torch's layout; the caller
    converts Keras' ``(kh, kw, in, out)``): one row per filter, one column per input channel.

    All panels share one colour scale, symmetric about zero (blue negative, red positive),
    so that sign and orientation can be compared panel to panel; pass the same ``vmax`` to
    both frameworks' figures to share the scale between them too. Small kernels carry their
    values. Only the first ``max_filters`` filters and ``max_channels`` channels are drawn.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"expected conv kernels of shape (out, in, kh, kw), got {weights.shape}")
    n_out, n_in, kh, kw = weights.shape
    rows, cols = min(n_out, max_filters), min(n_in, max_channels)
    if vmax is None:
        vmax = float(np.abs(weights).max())
    vmax = vmax or 1.0  # all zeros: any scale will do
    annotate = kh <= 5 and kw <= 5 and rows * cols <= 16
    panel = max(1.0, min(1.6, 0.3 * max(kh, kw))) if annotate else 1.0
    width = max(panel * cols + 1.4, 3.4 if rows < n_out or cols < n_in else 2.6)  # room for the title
    fig = Figure(figsize=(width, panel * rows + 1.0), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for o in range(rows):
        for c in range(cols):
            ax = axes[o, c]
            _bare(ax)
            kernel = weights[o, c]
            image = ax.imshow(kernel, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest", origin="upper")
            if annotate:
                for (r, k), value in np.ndenumerate(kernel):
                    color = "white" if abs(value) > 0.6 * vmax else "black"
                    ax.text(k, r, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
            if o == 0:
                ax.set_title(f"in {c}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"filter {o}", fontsize=9)
    title = f"{layer}\n{n_out} \u00d7 {n_in} kernels of {kh} \u00d7 {kw}"
    shown = [f"filters 0-{rows - 1} of {n_out}"] if rows < n_out else []
    shown += [f"channels 0-{cols - 1} of {n_in}"] if cols < n_in else []
    if shown:
        title += "\nshowing " + ", ".join(shown)
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes, shrink=min(1.0, 3 / rows + 0.2), aspect=20)
    return fig


# Feature maps


def feature_maps_figure(
    outputs: dict[str, np.ndarray],
    images: np.ndarray,
    n: int = 3,
    max_channels: int = 8,
    labels: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
) -> Figure:
    """What the first ``n`` images become, layer by layer: one row per image, its input
    first, then each named layer's output (``outputs[layer]``, in the model's order).

    Feature maps ``(N, C, H, W)`` give one panel per channel (the first ``max_channels``),
    in grayscale on one scale per layer, as the book's ``visualize_outputs``; flat outputs
    ``(N, F)`` give a bar chart (F <= 16, e.g. logits) or a heat strip, on one scale per
    layer, so that rows (images) can be compared.
    """
    images = np.asarray(images)
    count = min(n, len(images))
    if count == 0:
        raise ValueError("no images to draw")
    layers = []  # (name, values of the images drawn, columns taken)
    for name, values in outputs.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim not in (2, 4) or len(values) < count:
            raise ValueError(
                f"layer {name}: expected outputs (N, C, H, W) or (N, F) for at least {count} images, got {values.shape}"
            )
        width = min(values.shape[1], max_channels) if values.ndim == 4 else 2
        layers.append((name, values[:count], width))
    total = 1 + sum(width for _, _, width in layers)
    fig = Figure(figsize=(1.25 * total + 0.3, 1.35 * count + 0.4), dpi=100, layout="constrained")
    grid = fig.add_gridspec(count, total)
    for i in range(count):
        ax = fig.add_subplot(grid[i, 0])
        _bare(ax)
        pixels, scale = _displayable(_stretched(images[i]))
        ax.imshow(pixels, interpolation="nearest", **scale)
        if i == 0:
            ax.set_title("input", fontsize=9)
        if labels is not None:
            ax.set_ylabel(classes[int(labels[i])] if classes is not None else str(labels[i]), fontsize=9)
        column = 1
        for name, values, width in layers:
            low, high = float(values.min()), float(values.max())
            if values.ndim == 4:
                for c in range(width):
                    ax = fig.add_subplot(grid[i, column + c])
                    _bare(ax)
                    ax.imshow(values[i, c], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
                    if i == 0:
                        ax.set_title(f"{name}:{c}" if c == 0 else f":{c}", fontsize=8, loc="left")
            else:
                ax = fig.add_subplot(grid[i, column : column + width])
                _flat(ax, values[i], low, high)
                if i == 0:
                    ax.set_title(f"{name} ({values.shape[1]})", fontsize=8, loc="left")
            column += width
    return fig


def recorded_outputs_figure(
    recorded: dict[str, np.ndarray],
    inputs: np.ndarray | None,
    layers: Sequence[str],
    n: int,
    labels: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
) -> Figure:
    """``feature_maps_figure`` of what a trainer's hooks recorded (``visualize_outputs``),
    or a ``TwinspecError`` that says how to record it."""
    if inputs is None or any(name not in recorded for name in layers):
        raise TwinspecError(f"no outputs recorded for {', '.join(layers)}: attach_hooks(), then predict()")
    return feature_maps_figure({name: recorded[name] for name in layers}, inputs, n=n, labels=labels, classes=classes)


def _stretched(image: np.ndarray) -> np.ndarray:
    """An image a model consumes (normalised: [-1, 1], say) spread over [0, 1] for display."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def _flat(ax: Axes, values: np.ndarray, low: float, high: float) -> None:
    """A flat output: bars for a few features, a heat strip for many."""
    if len(values) <= 16:
        ax.bar(range(len(values)), values, color=["C0" if v >= 0 else "C3" for v in values])
        ax.set_ylim(min(low, 0.0) * 1.05, max(high, 0.0) * 1.05 or 1.0)
        ax.axhline(0, color="0.4", linewidth=0.6)
        ax.set_xticks(range(len(values)))
        ax.tick_params(labelsize=6)
    else:
        ax.imshow(values[np.newaxis], aspect="auto", cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        _bare(ax)


# Feature space


def feature_space_figure(
    points: dict[str, np.ndarray], labels: Sequence[int], classes: Sequence[str] | None = None, title: str = ""
) -> Figure:
    """The bonus chapter's feature space: one panel per layer, its outputs ``(N, F)`` as N
    points coloured by class. Two units are the axes themselves; one, a line; more, the
    first two principal axes of that layer's points, each signed so that its largest
    loading is positive (the same points give the same picture in every framework)."""
    labels = np.asarray(labels)
    fig = Figure(figsize=(3.3 * len(points) + 0.4, 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(points), squeeze=False)[0]
    for ax, (name, values) in zip(axes, points.items()):
        plane, (x_label, y_label) = _plane(np.asarray(values, dtype=np.float64))
        for k in np.unique(labels):
            chosen = labels == k
            name_k = classes[int(k)] if classes is not None else str(k)
            ax.scatter(plane[chosen, 0], plane[chosen, 1], s=12, alpha=0.75, label=name_k)
        ax.set_title(f"{name} ({values.shape[1]} units)", fontsize=9)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(y_label, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _plane(values: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """``(N, F)`` points as ``(N, 2)`` coordinates, and what their axes are."""
    if values.shape[1] == 1:
        return np.column_stack([values[:, 0], np.zeros(len(values))]), ("unit 0", "")
    if values.shape[1] == 2:
        return values, ("unit 0", "unit 1")
    centred = values - values.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    directions = directions[:2]
    signs = np.sign(directions[np.arange(2), np.abs(directions).argmax(axis=1)])
    return centred @ (directions * signs[:, np.newaxis]).T, ("principal axis 1", "principal axis 2")


# Confusion matrices


def confusion_figure(matrices: dict[str, np.ndarray], classes: Sequence[str]) -> Figure:
    """One confusion matrix per framework, side by side (rows: true class, columns:
    predicted class, the count in each cell), with the accuracy in the title: where the
    frameworks' mistakes differ, the off-diagonal cells differ."""
    if not matrices:
        raise ValueError("no confusion matrices to draw")
    k = len(classes)
    size = max(3.2, 0.55 * k + 1.6)
    fig = Figure(figsize=(size * len(matrices), size + 0.3), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(matrices), squeeze=False)[0]
    for ax, (name, matrix) in zip(axes, matrices.items()):
        matrix = np.asarray(matrix)
        if matrix.shape != (k, k):
            raise ValueError(f"{name}: expected a {k} x {k} confusion matrix, got shape {matrix.shape}")
        top = max(int(matrix.max()), 1)
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=top)
        for (r, c), count in np.ndenumerate(matrix):
            color = "white" if count > 0.6 * top else "black"
            ax.text(c, r, str(int(count)), ha="center", va="center", color=color, fontsize=11 if k <= 5 else 8)
        total = int(matrix.sum())
        accuracy = f"accuracy {np.trace(matrix) / total:.1%}" if total else "no samples"
        ax.set_title(f"{name}: {accuracy}")
        ax.set_xticks(range(k), classes, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
        ax.set_yticks(range(k), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    return fig
