"""Checks that run in a column's own worker process: Keras on JAX and on torch cannot load in
the test session's process, which runs Keras on TensorFlow (``conftest.ELSEWHERE``). A test
hands one of these functions, by name, to ``common.runs.workers.in_column`` while
``per_family`` is open; it asserts there (an ``AssertionError`` comes back and is raised in
the test) and returns plain data. Nothing here imports a framework at import time: the worker
imports this module before the column's family loads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from common import columns
from common.present.source import join_blocks
from common.runs import runner
from spec import load_spec, resolve_spec
from spec.schema import Spec

SPECS = Path(__file__).parent / "specs"


def spec_named(name: str) -> Spec:
    path = SPECS / f"{name}.yaml"
    return load_spec(path if path.is_file() else resolve_spec(name))


def listing_builds_the_columns_model(column: str, names: list[str]) -> int:
    """``test_calls``' check: each spec's listing model, loss and optimizer sections, run as
    a student's script runs them, make what the column's build and trainer make. Returns the
    count of specs checked."""
    listing = columns.load(column, "listing")
    build, train = columns.load(column, "build"), columns.load(column, "train")
    for name in names:
        spec = spec_named(name)
        namespace: dict = {}
        source = join_blocks([listing.imports(spec), *listing.model(spec), *listing.loss_and_optimizer(spec)])
        exec(compile(source, f"<{column} listing of {name}>", "exec"), namespace)  # noqa: S102  (our own listing)
        assert os.environ["KERAS_BACKEND"] == columns.family_environment(columns.column(column).family)["KERAS_BACKEND"]
        model, built = namespace["model"], build.build_model(spec.model, "nhwc")
        assert [layer.get_config() for layer in model.layers] == [layer.get_config() for layer in built.layers], name
        for ours, theirs in zip(built.weights, model.weights, strict=True):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=f"{name}: {ours.path}")
        loss, optimizer = train.make_loss(spec.train.loss), train.make_optimizer(built, spec.train)
        strip = lambda config: {k: v for k, v in config.items() if k != "name"}  # noqa: E731
        assert strip(model.optimizer.get_config()) == strip(optimizer.get_config()), name
        assert type(model.loss).__name__ == type(loss).__name__ and model.loss.get_config() == loss.get_config()
    return len(names)


def trainer_checks(column: str, folder: str) -> dict:
    """The trainer fed numpy on Keras' other backends (``test_trainer_api``'s and
    ``test_progress``' checks, on the few specs that reach each path): every step reported,
    and the run the same as a quiet one; a resumed run the whole run (the sampler's draws,
    epoch by epoch); a file that is no checkpoint refused, changing nothing; the range test
    leaving no trace; TensorBoard's runs written; hooks and filters recorded (N, C, H, W).
    Returns the whole run's losses, which the listing run alone must print."""
    from common.errors import DataError

    scratch = Path(folder)
    spec = spec_named("relu").with_overrides(epochs=2)
    heard: list = []
    whole = runner.make_trainer(column, spec, "nhwc")
    whole.train(2, seed=spec.train.seed, on_step=lambda *step: heard.append(step))
    first = runner.make_trainer(column, spec, "nhwc")
    first.train(1, seed=spec.train.seed)
    first.save_checkpoint(scratch / "relu.npz")
    resumed = runner.make_trainer(column, spec, "nhwc")
    resumed.load_checkpoint(scratch / "relu.npz")
    assert resumed.total_epochs == 1
    resumed.train(1, seed=None)
    assert resumed.losses == whole.losses and resumed.val_losses == whole.val_losses
    x = next(iter(whole.val_loader))[0]
    assert np.array_equal(resumed.predict(x), whole.predict(x))

    before = [np.array(w.numpy()) for w in first.model.weights]
    (scratch / "junk").write_bytes(b"not a checkpoint")
    try:
        first.load_checkpoint(scratch / "junk")
    except DataError:
        pass
    else:
        raise AssertionError("a file that is no checkpoint was restored")
    tracking, _ = first.lr_range_test(end_lr=1.0, num_iter=10)
    assert len(tracking["loss"]) == 10
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, first.model.weights, strict=True))
    log_dir = first.set_tensorboard(f"relu_{column}", folder=scratch)
    first.train(1, seed=None)
    for run in ("loss_training", "loss_validation", "accuracy_validation"):
        assert [path.stat().st_size > 0 for path in (log_dir / run).glob("events.out.tfevents.*")] == [True]

    spec = spec_named("cnn1")
    trainer = runner.make_trainer(column, spec, "nhwc")
    trainer.visualize_filters("conv1")
    trainer.attach_hooks(["conv1", "fc1"])
    x = next(iter(trainer.val_loader))[0]
    trainer.predict(x)
    channels, height, width = spec.model.layers[0].in_shape
    assert trainer.visualization["conv1"].ndim == 4 and len(trainer.visualization["conv1"]) == len(x)
    assert trainer.visualized_inputs.shape == (len(x), channels, height, width)  # (N, C, H, W), as torch
    return {"heard": heard, "losses": list(whole.losses), "val_losses": list(whole.val_losses)}
