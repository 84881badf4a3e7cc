"""Every spec compiles, trains and predicts in all four framework/layout combinations."""

from functools import partial
import pytest

from spec import list_specs, load_spec, resolve_spec
from common.runs import runner

keras_train = partial(runner.train_spec, "keras")
torch_train = partial(runner.train_spec, "torch")

SPECS = list_specs()


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_one_epoch_in_every_combination(spec, backend, layout):
    train = torch_train if backend == "torch" else keras_train
    result = train(spec.with_overrides(epochs=1), layout)
    assert (result.column, result.layout, result.epochs) == (backend, layout, 1)
    assert len(result.train_loss) == len(result.val_loss) == 1
    assert result.train_loss[0] > 0 and result.val_loss[0] > 0
    assert sum(total for _, total in result.per_class) > 0
    assert set(result.weights) and all(v.size for params in result.weights.values() for v in params.values())


def test_a_spec_without_normalisation_or_augmentation_trains(tmp_path):
    text = resolve_spec("relu").read_text()
    path = tmp_path / "plain.yaml"
    path.write_text(
        text.replace("  augment: [{hflip: 0.5}]\n", "").replace("  normalize: {mean: [0.5], std: [0.5]}\n", "")
    )
    spec = load_spec(path).with_overrides(epochs=1)
    assert spec.data.mean is None and spec.data.hflip == 0
    for train, layout in ((torch_train, "nchw"), (keras_train, "nhwc")):
        assert train(spec, layout).epochs == 1
