"""The Keras column on Keras' other backends (``keras-jax``, ``keras-torch``): the very
code of ``keras_impl``, each in a process of its own family (Keras reads its backend once,
at import, so it never shares a process with the ``keras`` column's TensorFlow).

Their packages re-export ``keras_impl``'s modules. A module that computes enters its
column's family first (``columns.enter``): ``KERAS_BACKEND`` set before Keras loads, or one
line why this process cannot (one that runs Keras on another backend already); importing
a package loads nothing. What differs is what Keras there is fed and shows: numpy batches
(the JAX column's pipeline, ``common.data.batches``, numpy alone), and what is written
once here and bound to each column's name there: the Keras listing with its backend line
and without TensorFlow, and no deployment format (Keras' exporters on those backends
convert through converters their processes do not load). Nothing here imports Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, NoReturn

from common import columns
from common.deploy.formats import DeployInfo
from common.errors import DataError
from common.present.source import header as listing_header
from common.present.source import join_sections, styled
from keras_impl import listing as keras_listing
from spec.schema import Spec

Section = Callable[[Spec], list[str]]


class ListingSections(NamedTuple):
    """A backend's listing: what it is for people, then its sections in ``__all__``'s order
    (``model`` and ``loss_and_optimizer`` are the Keras listing's own, the very calls)."""

    framework: str
    listing: Callable[[Spec], str]
    header: Callable[[Spec], str]
    imports: Callable[[Spec], str]
    data: Section
    pipeline: Section
    training: Section
    results: Section


def backend(column: str) -> str:
    """The Keras backend ``column``'s family sets (``common.columns``): ``jax`` or ``torch``."""
    return columns.family_environment(columns.column(column).family)["KERAS_BACKEND"]


def listing_sections(column: str) -> ListingSections:
    """The Keras listing as ``column`` runs it: ``KERAS_BACKEND`` set before Keras is
    imported, no TensorFlow (a folder of images read with Pillow; ``fit`` fed numpy, the
    training batches from a generator that draws each epoch as it starts, the splits as
    arrays), and its files named after its column. It runs the column's run in ``nhwc``,
    bit for bit (``tests/test_listings.py``)."""
    on = backend(column)
    framework = keras_listing._framework(on)

    def listing(spec: Spec, style: str | None = None) -> str:
        """The whole listing: one program that trains ``spec``, run from any folder; ``style``,
        how it writes the model (``source.STYLES``; None: as its column builds it)."""
        model_section = styled(column, style, {"sequential": keras_listing.model})
        sections = (header, imports, data, pipeline, model_section, keras_listing.loss_and_optimizer)
        return join_sections(spec, *sections, training, results)

    def header(spec: Spec) -> str:
        return listing_header(spec, framework)

    def imports(spec: Spec) -> str:
        return keras_listing._backend_imports(spec, on)

    def data(spec: Spec) -> list[str]:
        return keras_listing._backend_data(spec, on)

    def pipeline(spec: Spec) -> list[str]:
        return keras_listing._numpy_pipeline(spec)

    def training(spec: Spec) -> list[str]:
        return keras_listing._backend_training(spec, on)

    def results(spec: Spec) -> list[str]:
        return keras_listing._column_results(spec, column)

    return ListingSections(framework, listing, header, imports, data, pipeline, training, results)


def no_deployment(column: str) -> tuple[Callable[..., NoReturn], Callable[..., NoReturn]]:
    """``export`` and ``load_exported`` for a column that exports no format: each refuses in
    one line (``run.py deploy`` refuses such a run before either is called; train the
    ``keras`` column to deploy)."""
    none = f"the {column} column exports no deployment format (the keras column does, on TensorFlow)"

    def export(deployed: Callable, fmt: str, path: Path, info: DeployInfo) -> NoReturn:
        raise DataError(f"--format {fmt}: {none}")

    def load_exported(fmt: str, path: Path) -> NoReturn:
        raise DataError(f"{path}: {none}")

    return export, load_exported
