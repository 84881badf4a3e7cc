"""torch native mode reproduces the book's chapter-4 runs exactly.

Two independent checks: the spec-compiled backend against ``book_chapter4`` (the book's
code, transcribed), loss for loss; and both against the figures that run produces,
pinned here so that a change in either is caught even if both drift together.
"""

from functools import partial
import pytest
from book_chapter4 import chapter4

from spec import load_spec, resolve_spec
from common.runs import runner

train_spec = partial(runner.train_spec, "torch")

# (per-class validation counts [correct, total], final train loss, final validation loss)
BOOK = {
    "logistic": ([[11, 24], [28, 36]], 0.5159380078315735, 0.5436067804694176),
    "deepish": ([[16, 24], [23, 36]], 0.5178533713022868, 0.5509282201528549),
    "relu": ([[24, 24], [36, 36]], 0.2626734773317973, 0.1947967018932104),
}


@pytest.mark.parametrize("name", BOOK)
def test_torch_native_is_the_book(name):
    result = train_spec(load_spec(resolve_spec(name)), "nchw")
    losses, val_losses, counts = chapter4(name)
    assert result.train_loss == [float(v) for v in losses]
    assert result.val_loss == [float(v) for v in val_losses]
    assert result.per_class == counts
    per_class, loss, val_loss = BOOK[name]
    assert result.per_class == per_class
    assert result.train_loss[-1] == pytest.approx(loss, rel=1e-6)
    assert result.val_loss[-1] == pytest.approx(val_loss, rel=1e-6)
    assert result.epochs == (50 if name == "relu" else 100)
    assert result.val_accuracy_history[-1] == pytest.approx(sum(c for c, _ in per_class) / 60)


def test_cnn1_reproduces_the_counts_the_book_prints():
    """Chapter 5 prints these validation counts for its one-filter CNN after 20 epochs."""
    result = train_spec(load_spec(resolve_spec("cnn1")), "nchw")
    assert result.per_class == [[59, 67], [55, 62], [71, 71]]
    assert result.params == 213


def test_nhwc_torch_is_the_same_run():
    """Layout changes where the permute happens, not what is computed or drawn."""
    spec = load_spec(resolve_spec("relu")).with_overrides(epochs=5)
    nchw, nhwc = (train_spec(spec, layout) for layout in ("nchw", "nhwc"))
    assert nhwc.train_loss == pytest.approx(nchw.train_loss, rel=1e-6)
    assert nhwc.per_class == nchw.per_class
