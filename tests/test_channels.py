"""Channel order matters on the colour data: the check that makes layout bugs visible."""

from functools import partial
import numpy as np

from common.data.datasets import load_dataset
from common.data.prep import normalize, split_dataset
from common.runs.metrics import accuracy, batch_counts
from spec import load_spec, resolve_spec
from torch_impl.forward import forward
from common.runs import runner

train_spec = partial(runner.train_spec, "torch")


def test_permuting_the_channels_of_the_validation_set_changes_the_accuracy():
    spec = load_spec(resolve_spec("cnn2"))
    assert spec.model.layers[0].in_shape == (3, 28, 28)  # C != H: a transposed layout cannot fit silently
    result = train_spec(spec, "nchw")
    split = split_dataset(load_dataset(spec.data.dataset), spec.data)
    x_val = normalize(split.x_val, spec.data.mean, spec.data.std)

    def val_accuracy(x: np.ndarray) -> float:
        return accuracy(batch_counts(forward(spec.model, "nchw", result.weights, x), split.y_val, "cross_entropy"))

    assert val_accuracy(x_val) == result.val_accuracy > 0.8
    for order in ([1, 2, 0], [2, 0, 1], [0, 2, 1]):
        assert val_accuracy(x_val[:, order]) < 0.5, order
