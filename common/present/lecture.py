"""The lecture report: one self-contained HTML page that shows a spec in every column.

Framework-free: each column's side is made where its family computes (:func:`trained_side`,
in the family's worker while ``run.py report`` spans several families), from its trained
``StepByStep`` (they all share the book's API): the run's figures, what it predicts, its
filters and feature maps as images, its listing and its activation curves, all plain data.
The page is built from those and from ``common``'s data alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import columns
from common.data.datasets import load_dataset
from common.data.prep import Split, normalize, resolve_normalization, split_dataset, to_layout
from common.errors import WriteError
from common.parity.stats import LOCKSTEP_K, ForwardParity, LockstepParity
from common.present import plots
from common.present.html_report import Report
from common.present.tables import VERDICTS, final_rows
from common.runs.metrics import confusion_matrix, predicted_classes
from common.runs.result import RunResult
from common.runs.trainer import EpochCallback, StepCallback
from spec.layers import ACTIVATIONS
from spec.schema import Spec

SAMPLES = 18  # images in the data montage
MAPS_IMAGES = 3  # images whose feature maps are drawn
MAPS_COLUMNS = 24  # panels per row of the feature-maps figure, at most
NARROW = 10  # units of a hidden layer whose feature space the report draws, at most


@dataclass(frozen=True)
class Side:
    """One framework's part of the report, as plain data."""

    result: RunResult
    listing: str
    activations: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    adaptations: dict[str, str]  # the column's semantics.ADAPTATIONS: what it adds to follow torch
    predictions: np.ndarray  # the trained model's outputs for the validation images
    filters: dict[str, bytes]  # each conv2d layer's kernels, a PNG
    feature_maps: bytes | None  # the first validation images through _feature_layers, a PNG
    feature_spaces: dict[str, bytes]  # the validation points in each of _feature_spaces, a PNG by its first layer


def trained_side(
    name: str,
    spec: Spec,
    layout: str,
    mode: str,
    on_epoch: EpochCallback | None,
    on_step: StepCallback | None,
    activation_range: np.ndarray,
) -> Side:
    """Column ``name`` trains ``spec``; its side of the report, drawn from its trainer."""
    from common.runs.runner import make_trainer
    from common.runs.training import train_run

    trainer = make_trainer(name, spec, layout, mode)
    export = columns.load(name, "weights").export_weights
    callbacks = {"on_epoch": on_epoch, "on_step": on_step}
    result = train_run(trainer, spec, column=name, layout=layout, mode=mode, export=export, **callbacks)
    x_val, split = _validation_images(spec)
    filters = {
        layer.name: plots.png_bytes(trainer.visualize_filters(layer.name))
        for layer in spec.model.layers
        if layer.kind == "conv2d"
    }
    layers, maps = _feature_layers(spec), None
    if layers:
        trainer.attach_hooks(layers)
        trainer.predict(to_layout(x_val[:MAPS_IMAGES], layout))
        trainer.remove_hooks()
        figure = trainer.visualize_outputs(layers, MAPS_IMAGES, y=split.y_val, classes=split.classes)
        maps = plots.png_bytes(figure)
    spaces = {
        space[0]: plots.png_bytes(
            trainer.visualize_feature_space(space, to_layout(x_val, layout), split.y_val, split.classes)
        )
        for space in _feature_spaces(spec)
    }
    return Side(
        result,
        columns.load(name, "listing").listing(spec),
        columns.load(name, "activations").activation_curves(activation_range),
        columns.load(name, "semantics").ADAPTATIONS,
        np.asarray(trainer.predict(to_layout(x_val, layout))),
        filters,
        maps,
        spaces,
    )


def _validation_images(spec: Spec) -> tuple[np.ndarray, Split]:
    """The validation images as the runs see them (normalised), and the split."""
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    data = resolve_normalization(spec.data, split)
    return (split.x_val if data.mean is None else normalize(split.x_val, data.mean, data.std)), split


def _feature_layers(spec: Spec) -> list[str]:
    """The layers whose outputs fit in one figure row, in model order (flatten adds nothing)."""
    chosen, columns = [], 0
    for layer in spec.model.layers:
        if layer.kind == "flatten":
            continue
        width = min(layer.out_shape[0], 8) if len(layer.out_shape) == 3 else 2
        if columns + width > MAPS_COLUMNS:
            break
        chosen.append(layer.name)
        columns += width
    return chosen


def _feature_spaces(spec: Spec) -> list[list[str]]:
    """The narrow hidden layers (linear, at most NARROW units, before the last linear one),
    each with the activation layer after it, if any: what the feature-space figures show."""
    layers = spec.model.layers
    last = max((i for i, layer in enumerate(layers) if layer.kind == "linear"), default=0)
    spaces = []
    for i, layer in enumerate(layers[:last]):
        if layer.kind == "linear" and layer.params["units"] <= NARROW and layer.activation is None:
            after = layers[i + 1] if layers[i + 1].kind in ACTIVATIONS else None
            spaces.append([layer.name, *([after.name] if after is not None else [])])
    return spaces


def backends_of(names: list[str]) -> dict[str, list[str]]:
    """The columns that run one column's very code on several backends (Keras on TensorFlow,
    JAX and torch), by that column, where two or more of them are among ``names``."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(columns.column(name).runs_code_of or name, []).append(name)
    return {origin: group for origin, group in groups.items() if len(group) > 1}


def write_lecture_report(
    spec: Spec,
    sides: dict[str, Side],
    forward: ForwardParity,
    lockstep: dict[str, LockstepParity] | None,
    out: Path,
    titles: dict[str, str] | None = None,
    overwrite: bool = True,
) -> Path:
    """Build the page from every column's trained side and write it to ``out``; ``titles``
    names each column's framework for people (default: the column names); ``overwrite=False``
    leaves a file that took the name ``out`` meanwhile as it is."""
    titles = {name: (titles or {}).get(name, name) for name in sides}
    _, split = _validation_images(spec)
    runs = {name: side.result for name, side in sides.items()}
    first = next(iter(runs.values()))
    page = Report(
        f"{spec.name}: " + ", ".join(titles.values()),
        subtitle=f"{spec.title} \u2014 {first.mode} training, {first.epochs} epochs",
        footer=f"twinspec, {time.strftime('%Y-%m-%d %H:%M')}, from {spec.path}",
    )

    page.heading("The spec")
    page.paragraph("One YAML file; every implementation below is compiled from it.")
    page.preformatted(spec.path.read_text(encoding="utf-8"), title=str(spec.path))

    page.heading("The code")
    page.paragraph("What python run.py show prints for each framework: the same model and loop, written natively.")
    page.code_columns([(titles[name], side.listing) for name, side in sides.items()])
    added = [[titles[name], what, why] for name, side in sides.items() for what, why in side.adaptations.items()]
    if added:
        page.paragraph("What a column adds to its framework to compute what torch computes (its semantics module):")
        page.table(["column", "class", "why"], added)

    page.heading("The data")
    page.paragraph(
        f"{len(split.y_train)} training and {len(split.y_val)} validation images in {len(split.classes)} classes "
        f"({', '.join(split.classes)}); the first validation images:"
    )
    page.figure(plots.png_bytes(plots.images_figure(split.x_val, split.y_val, split.classes, n=SAMPLES)), "samples")

    page.heading("Training")
    rows = [[label.strip(), *values] for label, values in final_rows(list(runs.values()))]
    page.table(["", *runs], rows, caption="final figures (per class: correct/total)")
    curves = {name: (run.train_loss, run.val_loss) for name, run in runs.items()}
    rates = {name: run.learning_rates for name, run in runs.items()}
    figure = plots.losses_figure(curves, f"{spec.name}: " + " vs ".join(runs), rates)
    page.figure(plots.png_bytes(figure), "loss per epoch, and the learning rate where a scheduler moves it")
    for origin, group in backends_of(list(runs)).items():
        page.paragraph(
            f"One {columns.column(origin).title} program on {len(group)} backends: the same code, in a process of its "
            "own for each backend (its framework reads the backend once, as it is imported)."
        )
        overlay = {titles[name]: curves[name] for name in group}
        title = f"{spec.name}: the {origin} column's code on " + ", ".join(group)
        figure = plots.losses_figure(overlay, title, {titles[name]: rates[name] for name in group})
        page.figure(plots.png_bytes(figure), f"{origin} on its backends: loss per epoch")

    page.heading("Parity")
    page.paragraph(
        "Forward: torch's initial weights in every column and both layouts, one validation batch through each; "
        "every pair of outputs must agree within 1e-5 of the outputs' scale (their largest magnitude, at least 1)."
    )
    page.table(["pair", "max |difference|"], [[pair, f"{diff:.3g}"] for pair, diff in forward.pairs.items()])
    if lockstep:
        page.paragraph(
            "Lockstep: every column trained from the same initial weights on the same batches and flips as the "
            "reference. The noise floor is the reference trained again with round-off injected at every step; "
            f"each difference must stay within {LOCKSTEP_K:g} times its floor (at least the round-off of the "
            "model's longest dot product), and the per-class counts must be equal. Where round-off alone changes "
            "the counts or moves the loss by 1 %, the run is chaotic in float32 and not judged."
        )
        page.table(
            [
                "column",
                "relative loss difference (floor)",
                "weight difference of scale (floor)",
                "per-class counts",
                "of the bound",
                "verdict",
            ],
            [
                [
                    name,
                    f"{parity.max_rel_loss_diff:.3g} ({parity.floor.max_rel_loss_diff:.3g})",
                    f"{parity.max_rel_weight_diff:.3g} ({parity.floor.max_rel_weight_diff:.3g})",
                    "equal" if parity.per_class_equal else "differ",
                    f"{parity.ratio:.2g}",
                    VERDICTS[parity.verdict],
                ]
                for name, parity in lockstep.items()
            ],
        )

    page.heading("What the models learned")
    matrices = {
        name: confusion_matrix(predicted_classes(side.predictions, spec.train.loss), split.y_val, len(split.classes))
        for name, side in sides.items()
    }
    page.figure(plots.png_bytes(plots.confusion_figure(matrices, split.classes)), "confusion matrices, validation set")
    for layer in (layer for layer in spec.model.layers if layer.kind == "conv2d"):
        page.heading(f"Filters of {layer.name}", level=3)
        page.figures([(side.filters[layer.name], name) for name, side in sides.items()])
    layers = _feature_layers(spec)
    if layers:
        page.heading("Feature maps", level=3)
        page.paragraph(f"The same {MAPS_IMAGES} validation images through {', '.join(layers)}, in each framework.")
        page.figures([(side.feature_maps, name) for name, side in sides.items()])
    for space in _feature_spaces(spec):
        page.heading(f"Feature space of {space[0]}", level=3)
        page.paragraph(
            f"The {len(split.y_val)} validation images as points in the space of {' and '.join(space)}: how the "
            "hidden layer, then its activation, bends the data (more than two units: their first two principal axes)."
        )
        page.figures([(side.feature_spaces[space[0]], name) for name, side in sides.items()])

    page.heading("Activation functions")
    page.paragraph("Each activation of the spec language and its gradient, as each framework computes them.")
    activations = {name: side.activations for name, side in sides.items()}
    page.figure(plots.png_bytes(plots.activations_figure(activations)), "activations and their gradients")
    try:
        return page.write(out, overwrite)
    except OSError as exc:
        raise WriteError(out, exc.strerror or str(exc)) from None
