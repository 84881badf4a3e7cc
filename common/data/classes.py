"""The classes of the generated datasets, in label order: names alone, without numpy, so
that a listing (text) can name them."""

from __future__ import annotations

COLORS = ("red", "green", "blue")  # label c: the shape is lit in channel c
LINES = {True: ("parallel", "diagonal"), False: ("parallel", "up", "down")}  # by ``binary``


def class_names(kind: str, params: dict) -> tuple[str, ...]:
    """The classes of a generated dataset (``kind`` lines or colors), in label order."""
    if kind == "colors":
        return COLORS[: params["n_classes"]]
    return LINES[params["binary"]]
