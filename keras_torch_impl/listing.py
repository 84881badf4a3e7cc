"""``run.py show --backend keras-torch``: the Keras listing on PyTorch, as
``keras_impl/_backends.py`` writes it for Keras' other backends, bound to this column. Its
model, loss and optimizer sections are the Keras listing's, re-exported: the very calls.
Nothing here imports Keras: a listing is text.
"""

from __future__ import annotations

from keras_impl._backends import listing_sections
from keras_impl.listing import model, loss_and_optimizer  # noqa: I001  (the very sections)

__all__ = ["listing", "header", "imports", "data", "pipeline", "model", "loss_and_optimizer", "training", "results"]

FRAMEWORK, listing, header, imports, data, pipeline, training, results = listing_sections("keras-torch")
