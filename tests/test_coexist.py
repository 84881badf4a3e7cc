"""Both frameworks in one process never crash, whichever is imported first (DESIGN.md,
"Hazards": TensorFlow first, then a torch optimizer, segfaults unless handled). The
packages load no framework themselves, so each order names a module that does."""

import pytest
from conftest import run_python

TRAIN_TORCH = (
    "from spec import load_spec, resolve_spec\n"
    "from common.runs.runner import train_spec\n"
    "r = train_spec('torch', load_spec(resolve_spec('relu')).with_overrides(epochs=2), 'nchw')\n"
    "assert r.params == 143, r\n"
)
TRAIN_KERAS = (
    "from common.runs.runner import train_spec\n"
    "r = train_spec('keras', load_spec(resolve_spec('relu')).with_overrides(epochs=2), 'nhwc')\n"
    "assert r.params == 143, r\n"
)
TRAIN_TF = (
    "from common.runs.runner import train_spec\n"
    "r = train_spec('tf', load_spec(resolve_spec('relu')).with_overrides(epochs=2), 'nhwc')\n"
    "assert r.params == 143, r\n"
)


@pytest.mark.parametrize(
    "code",
    [
        "import tensorflow\n" + TRAIN_TORCH,  # the crashing order, with TensorFlow loaded by hand
        "import keras_impl.build\n" + TRAIN_TORCH + TRAIN_KERAS,
        "import torch_impl\nimport keras_impl.build\n" + TRAIN_TORCH + TRAIN_KERAS,  # torch_impl before torch
        "import torch\nimport keras_impl.build\n" + TRAIN_TORCH + TRAIN_KERAS,
        TRAIN_TORCH + TRAIN_KERAS + TRAIN_TORCH,
        "import tf_impl.build\n" + TRAIN_TORCH + TRAIN_TF + TRAIN_KERAS,  # Keras loads after tf_impl kept it out
        "import torch\nimport tf_impl.build\n" + TRAIN_TORCH + TRAIN_TF,
    ],
    ids=[
        "tensorflow-then-torch",
        "keras_impl-then-torch",
        "torch_impl-keras_impl-torch",
        "torch-then-keras_impl",
        "torch-keras-torch",
        "tf_impl-then-torch-then-keras",
        "torch-then-tf_impl",
    ],
)
def test_both_frameworks_in_one_process(code):
    done = run_python("-c", code, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-2000:]}"
