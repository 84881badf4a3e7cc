"""torch's schedulers written out in plain Python (``common.runs.schedules``) give torch's
rates and momentums exactly, step after step: what lets every column follow torch's sequence."""

from __future__ import annotations

import math

import pytest
import torch

from common.errors import DataError
from common.runs.schedules import make_schedule, restore_schedule, schedule_state
from spec.errors import TwinspecError
from spec.schema import Scheduler

STEPS_PER_EPOCH = 7
EPOCHS = 9
CASES = [
    ("step", {"step_size": 3, "gamma": 0.5}),
    ("step", {"step_size": 1, "gamma": 0.9}),
    ("multistep", {"milestones": [2, 5, 6], "gamma": 0.3}),
    ("exponential", {"gamma": 0.77}),
    ("cosine", {"T_max": 4, "eta_min": 1e-4}),
    ("cosine", {"T_max": 10, "eta_min": 0.0}),
    ("cyclic", {"base_lr": 1e-3, "max_lr": 1e-2, "step_size_up": "epoch", "mode": "triangular2"}),
    ("cyclic", {"base_lr": 1e-3, "max_lr": 3e-2, "step_size_up": 4, "step_size_down": 9, "mode": "triangular"}),
    ("cyclic", {"base_lr": 2e-3, "max_lr": 1e-2, "step_size_up": 5, "mode": "exp_range", "gamma": 0.97}),
    ("cyclic", {"base_lr": 1e-3, "max_lr": 1e-2, "step_size_up": 3, "cycle_momentum": False}),
    ("one_cycle", {"max_lr": 0.1}),
    ("one_cycle", {"max_lr": 0.05, "pct_start": 0.25, "anneal_strategy": "linear", "three_phase": True}),
    ("one_cycle", {"max_lr": 0.05, "total_steps": 80, "cycle_momentum": False, "div_factor": 10.0}),
]
TORCH = {
    "step": torch.optim.lr_scheduler.StepLR,
    "multistep": torch.optim.lr_scheduler.MultiStepLR,
    "exponential": torch.optim.lr_scheduler.ExponentialLR,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "reduce_on_plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
    "cyclic": torch.optim.lr_scheduler.CyclicLR,
    "one_cycle": torch.optim.lr_scheduler.OneCycleLR,
}
DEFAULTS = {  # the spec's defaults, as spec.load fills them in
    "cyclic": {"step_size_down": None, "mode": "triangular", "gamma": 1.0, "cycle_momentum": True},
    "one_cycle": {
        "total_steps": None,
        "pct_start": 0.3,
        "anneal_strategy": "cos",
        "cycle_momentum": True,
        "div_factor": 25.0,
        "final_div_factor": 1e4,
        "three_phase": False,
    },
}


def _torch_pair(kind: str, params: dict, lr: float) -> tuple[torch.optim.SGD, object]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9, nesterov=True)
    arguments = {k: STEPS_PER_EPOCH if v == "epoch" else v for k, v in params.items()}
    if kind == "one_cycle" and "total_steps" not in params:
        arguments |= {"epochs": EPOCHS, "steps_per_epoch": STEPS_PER_EPOCH}
    return optimizer, TORCH[kind](optimizer, **arguments)


def _momentum_defaults(kind: str) -> dict:
    return {
        "cyclic": {"base_momentum": 0.8, "max_momentum": 0.9},
        "one_cycle": {"base_momentum": 0.85, "max_momentum": 0.95},
    }.get(kind, {})


@pytest.mark.parametrize(("kind", "params"), CASES, ids=[f"{kind}-{i}" for i, (kind, _) in enumerate(CASES)])
def test_every_rate_and_momentum_is_torchs_to_the_bit(kind: str, params: dict) -> None:
    lr = 0.01
    optimizer, scheduler = _torch_pair(kind, params, lr)
    spec = Scheduler(kind, {**DEFAULTS.get(kind, {}), **_momentum_defaults(kind), **params})
    ours = make_schedule(spec, lr, EPOCHS, STEPS_PER_EPOCH)
    per_epoch = 1 if not ours.per_step else STEPS_PER_EPOCH
    total = params.get("total_steps", EPOCHS * per_epoch)
    seen = set()
    for _ in range(total):
        group = optimizer.param_groups[0]
        assert ours.lr == group["lr"]
        cycled = spec.params.get("cycle_momentum", False)
        assert ours.momentum == (group["momentum"] if cycled else None)
        seen.add(ours.lr)
        optimizer.step()
        scheduler.step()
        ours.step()
    assert ours.lr == optimizer.param_groups[0]["lr"]
    assert len(seen) > 2, "the schedule must move the rate for this test to mean anything"


def test_reduce_on_plateau_follows_the_validation_losses_as_torchs() -> None:
    params = {"factor": 0.5, "patience": 2, "threshold": 0.01, "threshold_mode": "rel", "cooldown": 1}
    params |= {"min_lr": 1e-3, "eps": 1e-8}
    losses = [1.0, 0.9, 0.95, 0.899, 0.9, 0.91, 0.5, 0.6, 0.7, 0.8, *[0.9] * 12]
    for mode in ("rel", "abs"):
        optimizer, scheduler = _torch_pair("reduce_on_plateau", {**params, "threshold_mode": mode}, 0.01)
        ours = make_schedule(Scheduler("reduce_on_plateau", {**params, "threshold_mode": mode}), 0.01, 1, 1)
        rates = []
        for loss in losses:
            optimizer.step()
            scheduler.step(loss)
            ours.step(loss)
            assert ours.lr == optimizer.param_groups[0]["lr"]
            rates.append(ours.lr)
        assert rates[-1] == 1e-3 and len(set(rates)) == 5  # halved three times, then held at min_lr


def test_a_schedules_state_resumes_it_exactly() -> None:
    spec = Scheduler("cosine", {"T_max": 3, "eta_min": 0.0})
    whole, resumed = make_schedule(spec, 0.1, 1, 1), make_schedule(spec, 0.1, 1, 1)
    for _ in range(4):
        whole.step()
        resumed.step()
    state = schedule_state(resumed)
    fresh = make_schedule(spec, 0.1, 1, 1)
    restore_schedule(fresh, state)
    for _ in range(5):
        whole.step()
        fresh.step()
        assert fresh.lr == whole.lr
    with pytest.raises(DataError, match="its scheduler's state must be a mapping of T_max, base_lr"):
        restore_schedule(fresh, {"lr": 1.0})
    with pytest.raises(DataError, match=r"its scheduler's state.lr must be a number"):
        restore_schedule(fresh, {**state, "lr": float("nan")})


def test_one_cycle_refuses_a_phase_without_steps_and_a_step_past_its_end() -> None:
    spec = Scheduler("one_cycle", {**DEFAULTS["one_cycle"], **_momentum_defaults("one_cycle"), "max_lr": 0.1})
    with pytest.raises(TwinspecError, match="leaves a phase without steps"):
        make_schedule(Scheduler("one_cycle", {**spec.params, "pct_start": 0.25}), 0.1, 1, 4)
    schedule = make_schedule(spec, 0.1, 1, 4)
    for _ in range(3):
        schedule.step()
    assert math.isclose(schedule.lr, 0.1 / 25 / 1e4)  # the last step's rate, the lowest
    schedule.step()  # torch steps once more after the last batch
    with pytest.raises(ValueError, match="Tried to step 5 times: it has 4 steps"):
        schedule.step()


def test_what_torch_would_fail_on_part_way_is_refused_before_anything_trains() -> None:
    """A one-cycle schedule shorter than the epochs it is made for; a step size of ``epoch`` on
    a loader whose length is unknown."""
    short = {**DEFAULTS["one_cycle"], **_momentum_defaults("one_cycle"), "max_lr": 0.1, "total_steps": 10}
    with pytest.raises(TwinspecError, match="one_cycle runs 10 steps, and 3 epochs of 4 batches make 12"):
        make_schedule(Scheduler("one_cycle", short), 0.1, 3, 4)
    assert make_schedule(Scheduler("one_cycle", short), 0.1, 2, 4).total_steps == 10
    per_epoch = {**DEFAULTS["cyclic"], **_momentum_defaults("cyclic"), "base_lr": 0.1, "max_lr": 1.0}
    with pytest.raises(TwinspecError, match="scheduler cyclic counts an epoch's batches: the training loader's are"):
        make_schedule(Scheduler("cyclic", {**per_epoch, "step_size_up": "epoch"}), 0.1, 1, None)
