"""Native parity: trained the native way, both backends reach the same accuracy.

Each backend trains five seeds; for each seed both start from the same initial weights
(torch's init under that seed) and then train natively. The paired accuracies must agree
within common.parity.stats's bound (README, "Parity"). ``run.py parity --check native`` runs
the same check.
"""

import pytest

from common.parity.stats import native_parity
from common.parity.checks import check_native
from spec import load_spec, resolve_spec


@pytest.mark.parametrize("name", ["logistic", "deepish", "relu", "cnn1"])
def test_native_accuracy_agrees(name):
    parity = check_native(load_spec(resolve_spec(name)), ["keras"], own_init=False)["keras"]
    print(f"\n{name}: {parity}")
    assert parity.seeds == 5
    assert parity.passed, parity


def test_keras_own_init_is_reported_alongside_not_judged():
    spec = load_spec(resolve_spec("relu")).with_overrides(epochs=3)
    seen = []
    parity = check_native(
        spec, ["keras"], seeds=range(2), on_seed=lambda seed, accs: seen.append((seed, sorted(accs)))
    )["keras"]
    assert seen == [(0, ["keras", "keras-init", "torch"]), (1, ["keras", "keras-init", "torch"])]
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
