"""The other side of each benchmark, per column: the plain hand-written loop a user of that
framework would write for the same model on the same data, the same model's training steps
on one batch held in memory (what its kernels reach at the spec's batch size, with no data
to move), and the framework's peak kernels (a large matmul and a large conv). Each factory
imports its framework when it is called, so one worker process loads one family only.

A column without an entry here is reported as missing by ``bench/all.py``, never skipped.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable

import numpy as np

from common.data.prep import Split, normalize, to_layout
from spec.schema import Spec

Epochs = Callable[[int], float]  # runs n epochs (training and validation each), returns their seconds
Steps = Callable[[int], float]  # runs n training steps on one resident batch, returns their seconds
MATMUL_N = 1024  # (N x N) @ (N x N): 2 N^3 FLOPs
CONV = (64, 32, 28, 28, 64, 3)  # batch, in channels, height, width, out channels, kernel (valid)


def conv_flops() -> float:
    batch, cin, h, w, cout, k = CONV
    return 2.0 * batch * cout * (h - k + 1) * (w - k + 1) * cin * k * k


def _arrays(split: Split, spec: Spec, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation images normalised once, up front, in ``layout``."""
    x_train, x_val = split.x_train, split.x_val
    if spec.data.mean is not None:
        x_train, x_val = (normalize(x, spec.data.mean, spec.data.std) for x in (x_train, x_val))
    return to_layout(x_train, layout), to_layout(x_val, layout)


def _numpy_arrays(split: Split, spec: Spec, layout: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Training and validation ``(x, y)`` as the TensorFlow and JAX loops take them: BCE's
    targets float ``(N, 1)``."""
    x_train, x_val = _arrays(split, spec, layout)
    binary = spec.train.loss in ("bce", "bce_logits")
    y_train, y_val = (y.reshape(-1, 1).astype("float32") if binary else y for y in (split.y_train, split.y_val))
    return (x_train, y_train), (x_val, y_val)


def _torch_tensors(spec: Spec, split: Split, layout: str):
    """The training and validation tensors of the torch plain loops, and the model, loss and
    optimizer, built by the torch column's own code."""
    import torch

    from torch_impl.build import build_model
    from torch_impl.train import make_loss, make_optimizer

    x_train, x_val = (torch.as_tensor(x) for x in _arrays(split, spec, layout))
    binary = spec.train.loss in ("bce", "bce_logits")
    y_train, y_val = (
        torch.as_tensor(y.reshape(-1, 1)).float() if binary else torch.as_tensor(y)
        for y in (split.y_train, split.y_val)
    )
    model = build_model(spec.model, layout)
    return (x_train, y_train), (x_val, y_val), model, make_loss(spec.train.loss), make_optimizer(model, spec.train)


def torch_loop(spec: Spec, split: Split, layout: str) -> Epochs:
    """A plain torch loop: tensors normalised once, batches by a random permutation's index."""
    import torch

    (x_train, y_train), (x_val, y_val), model, loss_fn, optimizer = _torch_tensors(spec, split, layout)
    batch = spec.data.batch_size

    def epochs(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            model.train()
            for index in torch.randperm(len(x_train)).split(batch):
                loss = loss_fn(model(x_train[index]), y_train[index])
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                loss.item()
            model.eval()
            with torch.no_grad():
                for first in range(0, len(x_val), batch):
                    yhat = model(x_val[first : first + batch])
                    loss_fn(yhat, y_val[first : first + batch]).item()
                    (yhat.argmax(dim=1) == y_val[first : first + batch]).sum().item()
        return time.perf_counter() - start

    return epochs


def lightning_fit(spec: Spec, split: Split, layout: str) -> Epochs:
    """Plain Lightning: the ``LightningModule`` its guide writes (the loss in
    ``training_step``, loss and accuracy logged in ``validation_step``), loaders that hand
    ``TensorDataset`` whole batches of a shuffled index as torch's plain loop takes them, and
    ``Trainer(max_epochs=n).fit``, a fresh Trainer per call as the column's ``train`` makes
    it, with the progress bar, logger, checkpoints, summary and sanity check off."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

    from lightning_impl.semantics import trainer_quiet

    (x_train, y_train), (x_val, y_val), model, loss_fn, optimizer = _torch_tensors(spec, split, layout)
    batch = spec.data.batch_size

    class Plain(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = loss_fn(self.model(x), y)
            self.log("loss", loss)
            return loss

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
            x, y = batch
            yhat = self.model(x)
            self.log("val_loss", loss_fn(yhat, y))
            self.log("val_acc", (yhat.argmax(dim=1) == y).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return optimizer

    def loader(dataset: TensorDataset, sampler: torch.utils.data.Sampler) -> DataLoader:
        return DataLoader(dataset, sampler=BatchSampler(sampler, batch, drop_last=False), batch_size=None)

    train_set, val_set = TensorDataset(x_train, y_train), TensorDataset(x_val, y_val)
    train, val = loader(train_set, RandomSampler(train_set)), loader(val_set, SequentialSampler(val_set))
    module = Plain()
    options = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }

    def epochs(n: int) -> float:
        start = time.perf_counter()
        with trainer_quiet():
            pl.Trainer(max_epochs=n, **options).fit(module, train, val)
        return time.perf_counter() - start

    return epochs


def keras_fit(spec: Spec, split: Split, layout: str, package: str = "keras_impl") -> Epochs:
    """Plain Keras: arrays normalised once, ``compile`` and ``fit`` with validation data. The
    same code on every backend: ``package`` is the column's, which enters its family (its
    ``KERAS_BACKEND``) before Keras loads."""
    build = importlib.import_module(f"{package}.build")
    train = importlib.import_module(f"{package}.train")
    build_model, make_loss, make_optimizer = build.build_model, train.make_loss, train.make_optimizer
    import keras

    (x_train, y_train), (x_val, y_val) = _numpy_arrays(split, spec, layout)
    model = build_model(spec.model, layout)
    model.compile(optimizer=make_optimizer(model, spec.train), loss=make_loss(spec.train.loss), metrics=["accuracy"])
    fit = {"batch_size": spec.data.batch_size, "validation_data": (x_val, y_val), "verbose": 0}
    keras.utils.set_random_seed(spec.train.seed)

    def epochs(n: int) -> float:
        start = time.perf_counter()
        model.fit(x_train, y_train, epochs=n, shuffle=True, **fit)
        return time.perf_counter() - start

    return epochs


def _gradient_tape_step(model, loss_fn, optimizer):
    """The TensorFlow guide's training step: a ``tf.function`` around a ``GradientTape``."""
    import tensorflow as tf

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(tape.gradient(loss, model.trainable_variables))
        return loss

    return step


def tf_loop(spec: Spec, split: Split, layout: str) -> Epochs:
    """Plain TensorFlow: arrays normalised once, a shuffled ``tf.data`` pipeline and a
    ``tf.function`` step around a ``GradientTape``, as the TensorFlow guide writes it."""
    import tensorflow as tf

    from tf_impl.build import build_model
    from tf_impl.train import make_loss, make_optimizer

    (x_train, y_train), (x_val, y_val) = _numpy_arrays(split, spec, layout)
    model = build_model(spec.model, layout)
    loss_fn, optimizer = make_loss(spec.train.loss), make_optimizer(model, spec.train)
    batch = spec.data.batch_size
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=spec.train.seed)
    train = train.batch(batch).prefetch(tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(batch)

    step = _gradient_tape_step(model, loss_fn, optimizer)

    @tf.function
    def evaluate(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        yhat = model(x, training=False)
        return loss_fn(y, yhat), tf.reduce_sum(tf.cast(tf.argmax(yhat, axis=1) == tf.cast(y, tf.int64), tf.int32))

    def epochs(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            for x, y in train:
                float(step(x, y))
            for x, y in val:
                [float(value) for value in evaluate(x, y)]
        return time.perf_counter() - start

    return epochs


def _jax_model(spec: Spec, layout: str):
    """The JAX column's model, loss and ``nnx.Optimizer``, built by its own code."""
    from jax_impl.build import build_model
    from jax_impl.train import make_loss, make_optimizer

    model = build_model(spec.model, layout)
    return model, make_loss(spec.train.loss), make_optimizer(model, spec.train)


def _jax_steps(loss_fn: Callable):
    """The Flax MNIST tutorial's ``train_step`` and ``eval_step``, each an ``nnx.jit``."""
    import jax
    from flax import nnx

    @nnx.jit
    def train_step(model: nnx.Module, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
        loss, grads = nnx.value_and_grad(lambda model: loss_fn(model(x), y))(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def eval_step(model: nnx.Module, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        yhat = model(x)
        return loss_fn(yhat, y), (yhat.argmax(axis=1) == y).sum()

    return train_step, eval_step


def jax_loop(spec: Spec, split: Split, layout: str) -> Epochs:
    """Plain JAX as the Flax MNIST tutorial writes it: arrays normalised once, batches by a
    random permutation's index, ``nnx.jit`` steps on the model and optimizer objects."""
    (x_train, y_train), (x_val, y_val) = _numpy_arrays(split, spec, layout)
    model, loss_fn, optimizer = _jax_model(spec, layout)
    train_step, eval_step = _jax_steps(loss_fn)
    batch, rng = spec.data.batch_size, np.random.default_rng(spec.train.seed)

    def epochs(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            model.train()
            for index in np.array_split(rng.permutation(len(x_train)), range(batch, len(x_train), batch)):
                float(train_step(model, optimizer, x_train[index], y_train[index]))
            model.eval()
            for first in range(0, len(x_val), batch):
                [float(value) for value in eval_step(model, x_val[first : first + batch], y_val[first : first + batch])]
        return time.perf_counter() - start

    return epochs


def jax_steps(spec: Spec, split: Split, layout: str) -> Steps:
    """The plain JAX loop's ``nnx.jit`` step, over and over on its first batch."""
    (x_train, y_train), _ = _numpy_arrays(split, spec, layout)
    x, y = x_train[: spec.data.batch_size], y_train[: spec.data.batch_size]
    model, loss_fn, optimizer = _jax_model(spec, layout)
    train_step, _ = _jax_steps(loss_fn)
    return _timed_calls(lambda: train_step(model, optimizer, x, y))


def torch_steps(spec: Spec, split: Split, layout: str) -> Steps:
    """The torch loop's step, over and over on its first batch."""
    (x_train, y_train), _, model, loss_fn, optimizer = _torch_tensors(spec, split, layout)
    x, y = x_train[: spec.data.batch_size], y_train[: spec.data.batch_size]
    model.train()

    def steps(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss.item()
        return time.perf_counter() - start

    return steps


def _timed_calls(step: Callable[[], object]) -> Steps:
    """``n`` calls of a compiled step (TensorFlow's or JAX's), each waited for (``float`` of
    its loss)."""

    def steps(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            float(step())
        return time.perf_counter() - start

    return steps


def keras_steps(spec: Spec, split: Split, layout: str) -> Steps:
    """Keras' own ``train_step`` (what ``fit`` compiles and calls per batch), in a
    ``tf.function``, over and over on the first batch: ``fit`` itself would add its
    per-call set-up to a handful of steps."""
    import tensorflow as tf

    from keras_impl.build import build_model
    from keras_impl.train import make_loss, make_optimizer

    x, y = (tf.constant(a[: spec.data.batch_size]) for a in _numpy_arrays(split, spec, layout)[0])
    model = build_model(spec.model, layout)
    model.compile(optimizer=make_optimizer(model, spec.train), loss=make_loss(spec.train.loss))
    model.optimizer.build(model.trainable_variables)  # its slots exist before the step is traced
    return _timed_calls(tf.function(lambda: model.train_step((x, y))["loss"]))


def tf_steps(spec: Spec, split: Split, layout: str) -> Steps:
    """The plain TensorFlow loop's ``tf.function`` step, over and over on its first batch."""
    import tensorflow as tf

    from tf_impl.build import build_model
    from tf_impl.train import make_loss, make_optimizer

    x, y = (tf.constant(a[: spec.data.batch_size]) for a in _numpy_arrays(split, spec, layout)[0])
    model = build_model(spec.model, layout)
    loss_fn, optimizer = make_loss(spec.train.loss), make_optimizer(model, spec.train)

    step = _gradient_tape_step(model, loss_fn, optimizer)
    return _timed_calls(lambda: step(x, y))


def torch_kernels() -> dict[str, Callable[[], float]]:
    """Seconds for one large matmul and one large conv in torch (float32, CPU)."""
    import torch

    a, b = torch.rand(MATMUL_N, MATMUL_N), torch.rand(MATMUL_N, MATMUL_N)
    batch, cin, h, w, cout, k = CONV
    x, weight = torch.rand(batch, cin, h, w), torch.rand(cout, cin, k, k)

    def timed(call: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            call()
            return time.perf_counter() - start

        return run

    return {"matmul": timed(lambda: a @ b), "conv": timed(lambda: torch.nn.functional.conv2d(x, weight))}


def tensorflow_kernels() -> dict[str, Callable[[], float]]:
    """The same kernels in TensorFlow, channels-last (its CPU convolution's layout)."""
    import tensorflow as tf

    a, b = tf.random.uniform((MATMUL_N, MATMUL_N)), tf.random.uniform((MATMUL_N, MATMUL_N))
    batch, cin, h, w, cout, k = CONV
    x, weight = tf.random.uniform((batch, h, w, cin)), tf.random.uniform((k, k, cin, cout))

    def timed(call: Callable[[], tf.Tensor]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            call().numpy()  # eager ops may return before the result is ready: wait for it
            return time.perf_counter() - start

        return run

    return {"matmul": timed(lambda: a @ b), "conv": timed(lambda: tf.nn.conv2d(x, weight, 1, "VALID"))}


def jax_kernels() -> dict[str, Callable[[], float]]:
    """The same kernels in JAX, each compiled once by ``jax.jit`` (as every JAX program runs
    its work), channels-last (Flax's convolution's layout)."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.key(0), 4)
    a, b = jax.random.uniform(keys[0], (MATMUL_N, MATMUL_N)), jax.random.uniform(keys[1], (MATMUL_N, MATMUL_N))
    batch, cin, h, w, cout, k = CONV
    x, weight = jax.random.uniform(keys[2], (batch, h, w, cin)), jax.random.uniform(keys[3], (k, k, cin, cout))
    matmul = jax.jit(jnp.matmul)
    conv = jax.jit(
        lambda x, weight: jax.lax.conv_general_dilated(
            x, weight, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )

    def timed(call: Callable[[], jax.Array]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            call().block_until_ready()  # dispatch is asynchronous: wait for the result
            return time.perf_counter() - start

        return run

    return {"matmul": timed(lambda: matmul(a, b)), "conv": timed(lambda: conv(x, weight))}


# A column missing here is a MISSED row. Lightning's cost over torch's plain loop is in the
# columns' section and in bench/lightning_overhead.py.
LOOPS: dict[str, Callable[[Spec, Split, str], Epochs]] = {
    "torch": torch_loop,
    "lightning": lightning_fit,
    "keras": keras_fit,
    "tf": tf_loop,
    "jax": jax_loop,
    "keras-jax": functools.partial(keras_fit, package="keras_jax_impl"),
    "keras-torch": functools.partial(keras_fit, package="keras_torch_impl"),
}
# Keras' steps on its other backends are left out: ``train_step`` is a pure function of the
# state on JAX and an eager call on torch, so it would time another thing than ``fit``'s step.
STEPS: dict[str, Callable[[Spec, Split, str], Steps]] = {
    "torch": torch_steps,
    "lightning": torch_steps,  # the same torch module and optimizer: the Trainer adds no kernel
    "keras": keras_steps,
    "tf": tf_steps,
    "jax": jax_steps,
}
# Per family: Keras on JAX or on torch reaches its backend's kernels.
KERNELS: dict[str, Callable[[], dict[str, Callable[[], float]]]] = {
    "torch": torch_kernels,
    "tensorflow": tensorflow_kernels,
    "jax": jax_kernels,
    "keras-jax": jax_kernels,
    "keras-torch": torch_kernels,
}
