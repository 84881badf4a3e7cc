"""Native parity: trained the native way, both backends reach the same accuracy.

Each backend trains SEEDS seeds; for each seed both start from the same initial weights
(torch's init under that seed) and then train natively. The paired accuracies must agree
within common.parity's bound (README, "Parity").
"""

import pytest

from common.parity import native_parity
from keras_impl.native import train_native as keras_native
from spec import load_spec, resolve_spec
from torch_impl.build import build_model
from torch_impl.native import train_native as torch_native
from torch_impl.weights import export_weights

SEEDS = range(5)


@pytest.mark.parametrize("name", ["logistic", "deepish", "relu"])
def test_native_accuracy_agrees(name):
    spec = load_spec(resolve_spec(name))
    torch_runs, keras_runs = [], []
    for seed in SEEDS:
        seeded = spec.with_overrides(seed=seed)
        init = export_weights(build_model(seeded.model, "nchw"), seeded.model)
        torch_runs.append(torch_native(seeded, "nchw"))
        keras_runs.append(keras_native(seeded, "nhwc", init=init))
    for torch_run, keras_run in zip(torch_runs, keras_runs):
        assert torch_run.params == keras_run.params
        assert len(torch_run.train_loss) == len(keras_run.train_loss) == spec.train.epochs
        assert [total for _, total in torch_run.per_class] == [total for _, total in keras_run.per_class]
    n_val = sum(total for _, total in torch_runs[0].per_class)
    parity = native_parity([r.val_accuracy for r in torch_runs], [r.val_accuracy for r in keras_runs], n_val)
    print(
        f"\n{name}: torch {[r.val_accuracy for r in torch_runs]}, keras {[r.val_accuracy for r in keras_runs]}, "
        f"diff {parity.difference:.3f}, bound {parity.bound:.3f}"
    )
    assert parity.passed, parity


def test_the_bound_rejects_a_real_difference():
    torch_accs = [0.60, 0.65, 0.60, 0.50, 0.72]
    noise = [0.02, -0.03, 0.0, 0.03, -0.02]
    worse = [a - 0.10 + e for a, e in zip(torch_accs, noise)]
    assert not native_parity(torch_accs, worse, 60).passed
    assert native_parity(torch_accs, [a + e for a, e in zip(torch_accs, noise)], 60).passed
    assert native_parity([1.0] * 5, [1.0] * 5, 60).bound == pytest.approx(1 / 60)
    with pytest.raises(ValueError):
        native_parity([0.5], [0.5], 60)
