"""Figures, built with matplotlib's object API so that no global backend is touched."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from common.atomic import atomic_write


def plot_losses(curves: dict[str, tuple[list[float], list[float]]], path: Path, title: str = "") -> Path:
    """Training (solid) and validation (dashed) loss per epoch, one colour per curve set."""
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    for i, (label, (train, val)) in enumerate(curves.items()):
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, color=f"C{i}", label=f"{label} training")
        ax.plot(epochs, val, color=f"C{i}", linestyle="--", label=f"{label} validation")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png")
    return path
