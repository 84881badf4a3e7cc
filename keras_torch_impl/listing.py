"""``run.py show --backend keras-torch``: the Keras listing on PyTorch.

The Keras column's listing (``keras_impl/listing.py``), with what differs on PyTorch:
``KERAS_BACKEND`` set before Keras is imported, no TensorFlow (a folder of images read with
Pillow; ``fit`` fed numpy, the training batches from a generator that draws each epoch as it
starts, the splits as arrays), and its files named after its column. Its model, loss and
optimizer sections are the Keras listing's, re-exported: the very calls. It runs the
``keras-torch`` column's run in ``nhwc``, bit for bit (``tests/test_listings.py``). Nothing
here imports Keras: a listing is text.
"""

from __future__ import annotations

from common.present.source import header as listing_header
from common.present.source import join_sections
from keras_impl import listing as keras_listing
from keras_impl.listing import model, loss_and_optimizer  # noqa: I001  (the very sections)
from spec.schema import Spec

BACKEND = "torch"
FRAMEWORK = keras_listing._framework(BACKEND)

__all__ = ["listing", "header", "imports", "data", "pipeline", "model", "loss_and_optimizer", "training", "results"]


def listing(spec: Spec) -> str:
    """The whole listing: one program that trains ``spec``, run from any folder."""
    return join_sections(spec, header, imports, data, pipeline, model, loss_and_optimizer, training, results)


def header(spec: Spec) -> str:
    return listing_header(spec, FRAMEWORK)


def imports(spec: Spec) -> str:
    return keras_listing._backend_imports(spec, BACKEND)


def data(spec: Spec) -> list[str]:
    return keras_listing._backend_data(spec, BACKEND)


def pipeline(spec: Spec) -> list[str]:
    return keras_listing._numpy_pipeline(spec)


def training(spec: Spec) -> list[str]:
    return keras_listing._backend_training(spec, BACKEND)


def results(spec: Spec) -> list[str]:
    return keras_listing._column_results(spec, "keras-torch")
