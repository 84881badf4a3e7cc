"""The learning-rate range test's schedule and smoothing, as the book's ``lr_range_test``.

Both trainers step the learning rate through the same values and smooth the losses the
same way, so their curves can be laid over each other.
"""

from __future__ import annotations

import numpy as np

STEP_MODES = ("exp", "linear")


def learning_rates(start_lr: float, end_lr: float, num_iter: int, step_mode: str = "exp") -> np.ndarray:
    """The learning rate of each iteration: from ``start_lr`` towards ``end_lr`` (reached
    at ``num_iter``, one step after the last iteration, as the book's ``make_lr_fn``)."""
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode must be one of {STEP_MODES}, got {step_mode!r}")
    if num_iter < 1 or start_lr <= 0 or end_lr <= 0:
        raise ValueError("the range test needs num_iter >= 1 and positive learning rates")
    steps = np.arange(num_iter, dtype=np.float64)
    if step_mode == "exp":
        return start_lr * (end_lr / start_lr) ** (steps / num_iter)
    return start_lr + (end_lr - start_lr) * steps / num_iter


def smoothed(losses: list[float], alpha: float = 0.05) -> list[float]:
    """Exponentially weighted average of the raw losses, the first one as it is."""
    out: list[float] = []
    for loss in losses:
        out.append(loss if not out else alpha * loss + (1 - alpha) * out[-1])
    return out
