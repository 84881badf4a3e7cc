"""common replays torch's default init in numpy, bit for bit (groundwork for lockstep)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from common.replay.torch_init import torch_initial_weights
from spec import list_specs, load_spec
from torch_impl.forward import initial_weights

TEST_SPECS = [load_spec(path) for path in sorted((Path(__file__).parent / "specs").glob("*.yaml"))]


@pytest.mark.parametrize("init", ["torch", "keras"])
@pytest.mark.parametrize("spec", [*list_specs(), *TEST_SPECS], ids=lambda spec: spec.name)
def test_numpy_draws_the_weights_torch_draws(spec, init):
    model = dataclasses.replace(spec.model, init=init)
    ours, torchs = torch_initial_weights(model), initial_weights(model)
    assert set(ours) == set(torchs)
    for name, params in torchs.items():
        assert set(ours[name]) == set(params)
        for key, value in params.items():
            assert ours[name][key].dtype == np.float32
            assert np.array_equal(ours[name][key], value), (name, key)
