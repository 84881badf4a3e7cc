"""Native parity: trained the native way, both backends reach the same accuracy.

Different random streams make single runs differ by chance, so each backend trains
SEEDS seeds (keras with torch's init distribution, as the specs state) and the means
must agree within common.parity's bound (README, "Parity").
"""

import pytest

from common.parity import native_parity
from keras_impl.native import train_native as keras_native
from spec import load_spec, resolve_spec
from torch_impl.native import train_native as torch_native

SEEDS = range(5)


@pytest.mark.parametrize("name", ["logistic", "deepish", "relu"])
def test_native_accuracy_agrees(name):
    spec = load_spec(resolve_spec(name))
    runs = {
        backend: [train(spec.with_overrides(seed=seed), layout) for seed in SEEDS]
        for backend, train, layout in (("torch", torch_native, "nchw"), ("keras", keras_native, "nhwc"))
    }
    for torch_run, keras_run in zip(runs["torch"], runs["keras"]):
        assert torch_run.params == keras_run.params
        assert len(torch_run.train_loss) == len(keras_run.train_loss) == spec.train.epochs
        assert [total for _, total in torch_run.per_class] == [total for _, total in keras_run.per_class]
    n_val = sum(total for _, total in runs["torch"][0].per_class)
    parity = native_parity([r.val_accuracy for r in runs["torch"]], [r.val_accuracy for r in runs["keras"]], n_val)
    print(f"{name}: torch {parity.torch_acc_mean:.3f}±{parity.torch_acc_std:.3f}, "
          f"keras {parity.keras_acc_mean:.3f}±{parity.keras_acc_std:.3f}, bound {parity.bound:.3f}")
    assert parity.passed, parity


def test_the_bound_rejects_a_real_difference():
    """A port that is 10 points worse, with the spread these models show, must fail."""
    torch_accs = [0.60, 0.65, 0.60, 0.50, 0.72]
    assert not native_parity(torch_accs, [a - 0.10 for a in torch_accs], 60).passed
    assert native_parity(torch_accs, [0.60, 0.75, 0.58, 0.60, 0.68], 60).passed
    assert native_parity([1.0] * 5, [1.0] * 5, 60).bound == pytest.approx(1 / 60)
