"""Native parity: trained the native way, every column reaches torch's accuracy.

Each column trains five seeds; for each seed it and torch start from the same initial weights
(torch's init under that seed) and then train natively. The paired accuracies must agree
within common.parity.stats's bound (docs/parity.md, "Native parity"). ``run.py parity --check native`` runs
the same check.
"""

from functools import cache

import pytest

from common.parity.checks import check_native
from common.parity.stats import native_parity
from spec import load_spec, resolve_spec

# The TensorFlow-family columns on the book's chapter 4 models and on cnn1; where two are
# checked on one spec they share torch's runs, as ``run.py parity --check native`` does.
JUDGED = {"logistic": ["keras"], "deepish": ["keras"], "relu": ["keras", "tf"], "cnn1": ["keras", "tf"]}


@cache
def _native(name: str) -> dict:
    return check_native(load_spec(resolve_spec(name)), JUDGED[name], own_init=False)


@pytest.mark.parametrize("name, column", [(name, column) for name, judged in JUDGED.items() for column in judged])
def test_native_accuracy_agrees(name, column):
    parity = _native(name)[column]
    print(f"\n{name}, {column}: {parity}")
    assert parity.seeds == 5
    assert parity.passed, parity


@pytest.mark.parametrize("column", ["keras", "tf"])
def test_a_columns_own_init_is_reported_alongside_not_judged(column):
    spec = load_spec(resolve_spec("relu")).with_overrides(epochs=3)
    seen = []
    parity = check_native(spec, [column], seeds=range(2), on_seed=lambda seed, accs: seen.append((seed, sorted(accs))))[
        column
    ]
    assert seen == [(seed, sorted([column, f"{column}-init", "torch"])) for seed in range(2)]
    assert 0 <= parity.own_init_acc_mean <= 1 and parity.own_init_acc_std is not None


def test_the_bound_rejects_a_real_difference():
    torch_accs = [0.60, 0.65, 0.60, 0.50, 0.72]
    noise = [0.02, -0.03, 0.0, 0.03, -0.02]
    worse = [a - 0.10 + e for a, e in zip(torch_accs, noise)]
    assert not native_parity("keras", worse, "torch", torch_accs, 60).passed
    assert native_parity("keras", [a + e for a, e in zip(torch_accs, noise)], "torch", torch_accs, 60).passed
    assert native_parity("keras", [1.0] * 5, "torch", [1.0] * 5, 60).bound == pytest.approx(1 / 60)
    with pytest.raises(ValueError):
        native_parity("keras", [0.5], "torch", [0.5], 60)
