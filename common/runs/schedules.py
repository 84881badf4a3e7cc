"""torch's learning-rate schedulers in plain Python, for the columns whose framework has none
that computes torch's numbers.

torch computes a schedule in Python floats (float64), step by step, most of them from the
last rate (``lr * gamma``, the cosine's ratio), and an optimizer applies each rate rounded
to float32. Keras' and Optax's schedules compute in float32 inside the compiled step, in
closed form, and so differ in the last bits, and neither has torch's cyclic momentum. Each
class here is torch's ``get_lr`` written out, the same operations in the same order, so
that its rates and momentums equal torch's exactly (``tests/test_schedules.py``). The
Keras, TensorFlow and JAX columns assign them to their optimizer before each step, and
their listings print the class (each needs only ``math``).

Every schedule is made over the optimizer's rate (a cycle over its own), and has ``lr`` and
``momentum`` (the rate and momentum for the next step; the momentum None unless it cycles),
``per_step`` (stepped after every batch, or every epoch) and ``step(metric=None)``
(``metric``: the validation loss, for ``ReduceLROnPlateau``).
"""

from __future__ import annotations

import math
from typing import Any

from common.calls import Call, Source, call, instantiate
from common.errors import DataError
from spec.errors import TwinspecError
from spec.load import SCHEDULERS
from spec.schema import Scheduler


class StepLR:
    """The rate times ``gamma`` every ``step_size`` epochs."""

    per_step = False

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr, self.momentum, self.last_epoch = lr, None, 0
        self.step_size, self.gamma = step_size, gamma

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            self.lr = self.lr * self.gamma


class MultiStepLR:
    """The rate times ``gamma`` at each of the ``milestones`` epochs."""

    per_step = False

    def __init__(self, lr: float, milestones: list[int], gamma: float = 0.1) -> None:
        self.lr, self.momentum, self.last_epoch = lr, None, 0
        self.milestones, self.gamma = list(milestones), gamma

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        if self.last_epoch in self.milestones:
            self.lr = self.lr * self.gamma


class ExponentialLR:
    """The rate times ``gamma`` every epoch."""

    per_step = False

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr, self.momentum, self.last_epoch = lr, None, 0
        self.gamma = gamma

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        self.lr = self.lr * self.gamma


class CosineAnnealingLR:
    """Half a cosine from the rate down to ``eta_min`` over ``T_max`` epochs, and up again;
    torch's recursive form, from the last rate."""

    per_step = False

    def __init__(self, lr: float, T_max: int, eta_min: float = 0.0) -> None:
        self.lr, self.momentum, self.last_epoch = lr, None, 0
        self.base_lr, self.T_max, self.eta_min = lr, T_max, eta_min

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        epoch, period = self.last_epoch, self.T_max
        if (epoch - 1 - period) % (2 * period) == 0:
            self.lr = self.lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
        else:
            now = 1 + math.cos(math.pi * epoch / period)
            before = 1 + math.cos(math.pi * (epoch - 1) / period)
            self.lr = now / before * (self.lr - self.eta_min) + self.eta_min


class ReduceLROnPlateau:
    """The rate times ``factor`` once the validation loss has not improved (by ``threshold``)
    for more than ``patience`` epochs; then ``cooldown`` epochs of rest."""

    per_step = False

    def __init__(
        self,
        lr: float,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.lr, self.momentum, self.last_epoch = lr, None, 0
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr
        self.threshold, self.threshold_mode, self.eps = threshold, threshold_mode, eps
        self.best, self.num_bad_epochs, self.cooldown_counter = math.inf, 0, 0

    def step(self, metric: float | None = None) -> None:
        current = float(metric)
        self.last_epoch += 1
        if self.threshold_mode == "rel":
            better = current < self.best * (1.0 - self.threshold)
        else:
            better = current < self.best - self.threshold
        if better:
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = max(self.lr * self.factor, self.min_lr)
            if self.lr - reduced > self.eps:
                self.lr = reduced
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0


class CyclicLR:
    """The rate up from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and down in
    ``step_size_down``, every batch; ``triangular2`` halves each cycle's height, ``exp_range``
    scales it by ``gamma`` per step. The momentum cycles the other way."""

    per_step = True

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
    ) -> None:
        up = float(step_size_up)
        self.total_size = up + (float(step_size_down) if step_size_down is not None else up)
        self.step_ratio = up / self.total_size
        self.base_lr, self.max_lr, self.mode, self.gamma = base_lr, max_lr, mode, gamma
        self.momentums = (base_momentum, max_momentum) if cycle_momentum else None
        self.last_epoch = 0
        self.lr, self.momentum = self._at(0)

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        self.lr, self.momentum = self._at(self.last_epoch)

    def _at(self, step: int) -> tuple[float, float | None]:
        cycle = math.floor(1 + step / self.total_size)
        x = 1.0 + step / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:  # exp_range scales by the step, not the cycle
            scale = self.gamma**step
        lr = self.base_lr + (self.max_lr - self.base_lr) * scale_factor * scale
        if self.momentums is None:
            return lr, None
        base_momentum, max_momentum = self.momentums
        return lr, max_momentum - (max_momentum - base_momentum) * scale_factor * scale


class OneCycleLR:
    """One cycle over ``total_steps`` batches: the rate up from ``max_lr / div_factor`` to
    ``max_lr`` in the first ``pct_start`` of them, then down to ``final_div_factor`` times
    lower (``three_phase``: back to the start first); the momentum the other way."""

    per_step = True

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        initial = max_lr / div_factor
        lowest = initial / final_div_factor
        top, bottom = max_momentum, base_momentum
        rise = (float(pct_start * total_steps) - 1, initial, max_lr, top, bottom)
        if three_phase:
            back = (float(2 * pct_start * total_steps) - 2, max_lr, initial, bottom, top)
            self.phases = [rise, back, (total_steps - 1, initial, lowest, top, top)]
        else:
            self.phases = [rise, (total_steps - 1, max_lr, lowest, bottom, top)]
        self.total_steps, self.cycle_momentum = total_steps, cycle_momentum
        self.cosine = anneal_strategy == "cos"
        self.last_epoch = 0
        self.lr, self.momentum = self._at(0)

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        self.lr, self.momentum = self._at(self.last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.cosine:
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, step: int) -> tuple[float, float | None]:
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times: it has {self.total_steps} steps")
        start = 0.0
        for i, (end, start_lr, end_lr, start_momentum, end_momentum) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                pct = (step - start) / (end - start)
                lr = self._anneal(start_lr, end_lr, pct)
                if not self.cycle_momentum:
                    return lr, None
                return lr, self._anneal(start_momentum, end_momentum, pct)
            start = end
        raise AssertionError("the last phase always answers")


SCHEDULES = {
    "step": StepLR,
    "multistep": MultiStepLR,
    "exponential": ExponentialLR,
    "cosine": CosineAnnealingLR,
    "reduce_on_plateau": ReduceLROnPlateau,
    "cyclic": CyclicLR,
    "one_cycle": OneCycleLR,
}
Schedule = StepLR | MultiStepLR | ExponentialLR | CosineAnnealingLR | ReduceLROnPlateau | CyclicLR | OneCycleLR


def check_schedule(scheduler: Scheduler, epochs: int, steps_per_epoch: int | None) -> None:
    """Refuse, before anything trains, what torch would fail on part-way: a step size of
    ``epoch`` or one_cycle's default length on a loader of unknown length; one_cycle shorter
    than the ``epochs`` it is to run, or with a phase of no steps (torch divides by it)."""
    counts = any(value == "epoch" for value in scheduler.params.values())
    counts = counts or scheduler.kind == "one_cycle" and scheduler.params["total_steps"] is None
    if counts and not (isinstance(steps_per_epoch, int) and steps_per_epoch > 0):
        raise TwinspecError(f"scheduler {scheduler.kind} counts an epoch's batches: the training loader's are unknown")
    if scheduler.kind != "one_cycle":
        return
    arguments = dict(scheduler.params)
    needed = epochs * (steps_per_epoch or 0)
    if arguments["total_steps"] is None:
        arguments["total_steps"] = needed
    if arguments["total_steps"] < needed:
        raise TwinspecError(
            f"one_cycle runs {arguments['total_steps']} steps, and {epochs} epochs of {steps_per_epoch} batches"
            f" make {needed}: leave total_steps out, or make it at least {needed}"
        )
    if 0 in _phase_lengths(arguments):
        raise TwinspecError(
            f"one_cycle: pct_start {arguments['pct_start']} of {arguments['total_steps']} steps leaves a phase "
            "without steps: change pct_start, or train more steps"
        )


def _phase_lengths(arguments: dict[str, Any]) -> list[float]:
    """How far each of one_cycle's phases runs: torch divides by it (a negative one is skipped)."""
    total, pct = arguments["total_steps"], arguments["pct_start"]
    ends = [float(pct * total) - 1, *([float(2 * pct * total) - 2] if arguments["three_phase"] else []), total - 1]
    return [end - start for start, end in zip([0.0, *ends], ends)]


def scheduler_kwargs(
    scheduler: Scheduler, epochs: Source, batches: Source, epochs_apart: bool = False
) -> dict[str, Any]:
    """The spec's scheduler's arguments that differ from torch's defaults, as a listing writes
    them: ``batches`` (an epoch's batch count, its text and value) where the spec says
    ``epoch``, and one_cycle's default ``total_steps`` as ``epochs`` times them, or with
    ``epochs_apart`` torch's ``epochs=..., steps_per_epoch=...``."""
    kwargs: dict[str, Any] = {}
    for key, (_, default) in SCHEDULERS[scheduler.kind].items():
        value = scheduler.params[key]
        if key == "total_steps" and value is None:
            if epochs_apart:
                kwargs |= {"epochs": epochs, "steps_per_epoch": batches}
            else:
                kwargs[key] = Source(f"{epochs.text} * {batches.text}", epochs.value * batches.value)
        elif value != default:
            kwargs[key] = batches if value == "epoch" else list(value) if isinstance(value, tuple) else value
    return kwargs


def schedule_call(scheduler: Scheduler, lr: float, epochs: Source, batches: Source) -> Call:
    """The plain-Python scheduler (one of :data:`SCHEDULES`) over a rate ``lr``, as made and
    printed; a cycle sets its own rates, so it takes none."""
    cls = SCHEDULES[scheduler.kind]
    return call(cls.__name__, *(() if cls.per_step else (lr,)), **scheduler_kwargs(scheduler, epochs, batches))


def make_schedule(scheduler: Scheduler, lr: float, epochs: int, steps_per_epoch: int | None) -> Schedule:
    """The spec's scheduler over an optimizer whose rate is ``lr``."""
    check_schedule(scheduler, epochs, steps_per_epoch)
    made = schedule_call(scheduler, lr, Source("epochs", epochs), Source("steps_per_epoch", steps_per_epoch or 0))
    return instantiate(made, {cls.__name__: cls for cls in SCHEDULES.values()})


def schedule_state(schedule: Schedule) -> dict[str, Any]:
    """What a checkpoint keeps of a schedule: every attribute, numbers and lists of them."""
    return dict(vars(schedule))


def restore_schedule(schedule: Schedule, state: dict[str, Any]) -> None:
    """Put back what :func:`schedule_state` gave (lists for tuples, as JSON reads them back)."""
    check_scheduler_state(state, schedule_state(schedule))
    vars(schedule).update(state)


def check_scheduler_state(saved: Any, current: dict[str, Any]) -> None:
    """Refuse a scheduler's state that is not one of the scheduler at hand: the same fields,
    each a value of the same kind (numbers for numbers, not NaN; lists of the same length;
    the same words), so that nothing a file holds reaches the scheduler unchecked."""
    _same_kind(saved, current, "its scheduler's state")


def _same_kind(saved: Any, current: Any, where: str) -> None:
    def refuse(expected: str) -> DataError:
        return DataError(f"the checkpoint's scheduler does not fit this trainer's: {where} must be {expected}")

    if isinstance(current, dict):
        if not isinstance(saved, dict) or set(saved) != set(current):
            raise refuse(f"a mapping of {', '.join(map(str, sorted(current)))}")
        for key, value in current.items():
            _same_kind(saved[key], value, f"{where}.{key}")
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(current):
            raise refuse(f"a list of {len(current)}")
        for i, (item, value) in enumerate(zip(saved, current)):
            _same_kind(item, value, f"{where}[{i}]")
    elif isinstance(current, bool) or current is None or isinstance(current, str):
        if type(saved) is not type(current) or isinstance(current, str) and saved != current:
            raise refuse(repr(current) if isinstance(current, str) else type(current).__name__)
    elif isinstance(saved, bool) or not isinstance(saved, (int, float)) or saved != saved:
        raise refuse("a number")
