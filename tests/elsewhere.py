"""Checks that run in a column's own worker process: Keras on JAX and on torch cannot load in
the test session's process, which runs Keras on TensorFlow (``conftest.ELSEWHERE``). A test
hands one of these functions, by name, to ``common.runs.workers.in_column`` while
``per_family`` is open; it asserts there (an ``AssertionError`` comes back and is raised in
the test) and returns plain data. Nothing here imports a framework at import time: the worker
imports this module before the column's family loads.
"""

from __future__ import annotations

import os
import tempfile
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


def steps_heard(column: str, name: str, epochs: int) -> tuple[list, list, list]:
    """``test_progress``' run: every step reported, and the run the same as a quiet one."""
    spec = spec_named(name).with_overrides(epochs=epochs)
    heard: list = []
    reported = runner.train_spec(column, spec, "nhwc", on_step=lambda *step: heard.append(step))
    quiet = runner.train_spec(column, spec, "nhwc")
    assert reported.train_loss == quiet.train_loss and reported.val_loss == quiet.val_loss
    return heard, list(reported.train_loss), list(quiet.train_loss)


def trainer_api(column: str) -> dict:
    """``test_trainer_api``'s checks on a trainer fed numpy: a resumed run is the whole run
    (native and lockstep with dropout masks), a file that is no checkpoint is refused, the
    range test leaves no trace, TensorBoard's runs are written, the test split evaluates, and
    figures and hooks work."""
    from common.errors import DataError

    figures: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name, mode in (("relu", "native"), ("dropout_maps", "lockstep")):  # the sampler's draws; the plan's
            spec = spec_named(name).with_overrides(epochs=2)
            whole = runner.make_trainer(column, spec, "nhwc", mode)
            whole.train(2, seed=spec.train.seed)
            first = runner.make_trainer(column, spec, "nhwc", mode)
            first.train(1, seed=spec.train.seed)
            first.save_checkpoint(folder / f"{name}.npz")
            first.train(1, seed=None)
            resumed = runner.make_trainer(column, spec, "nhwc", mode)
            resumed.load_checkpoint(folder / f"{name}.npz")
            assert resumed.total_epochs == 1
            resumed.train(1, seed=None)
            for split in (first, resumed):
                assert split.losses == whole.losses and split.val_losses == whole.val_losses, (name, mode)
            x = next(iter(whole.val_loader))[0]
            assert np.array_equal(resumed.predict(x), whole.predict(x))
            figures[name] = whole.losses

        spec = spec_named("relu").with_overrides(epochs=3)
        trainer = runner.make_trainer(column, spec, "nhwc", "lockstep")
        before = [np.array(w.numpy()) for w in trainer.model.weights]
        (folder / "junk").write_bytes(b"not a checkpoint")
        try:
            trainer.load_checkpoint(folder / "junk")
        except DataError:
            pass
        else:
            raise AssertionError("a file that is no checkpoint was restored")
        tracking, _ = trainer.lr_range_test(end_lr=1.0, num_iter=10)
        assert len(tracking["loss"]) == 10
        assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, trainer.model.weights))
        log_dir = trainer.set_tensorboard(f"relu_{column}", folder=folder)
        trainer.train(3, seed=spec.train.seed)
        for run in ("loss_training", "loss_validation", "accuracy_validation"):
            assert [path.stat().st_size > 0 for path in (log_dir / run).glob("events.out.tfevents.*")] == [True]
        figures["relu lockstep"] = trainer.losses

        spec = spec_named("auto_test_split").with_overrides(epochs=1)
        trainer = runner.make_trainer(column, spec, "nhwc")
        trainer.train(1, seed=spec.train.seed)
        loss, counts = trainer.evaluate(trainer.test_loader)
        assert np.isfinite(loss) and counts[:, 1].sum() == sum(len(y) for _, y in trainer.test_loader)

        spec = spec_named("cnn1").with_overrides(epochs=1)
        trainer = runner.make_trainer(column, spec, "nhwc")
        trainer.train(1, seed=spec.train.seed)
        trainer.visualize_filters("conv1")
        trainer.attach_hooks(["conv1", "fc1"])
        x = next(iter(trainer.val_loader))[0]
        trainer.predict(x)
        channels, height, width = spec.model.layers[0].in_shape
        assert trainer.visualization["conv1"].ndim == 4 and len(trainer.visualization["conv1"]) == len(x)
        assert trainer.visualized_inputs.shape == (len(x), channels, height, width)  # (N, C, H, W), as torch
        figures["parameters"] = trainer.count_parameters()
    return figures
