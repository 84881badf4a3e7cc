"""What every benchmark here shares: the sides of a comparison timed in turn, in one run,
and the ratio summarised per round, so that a machine whose load changes during the run
moves both sides alike (the figures are ratios, not absolute seconds)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator``, round by round: the median and the spread."""

    median: float
    low: float
    high: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.median:.2f}x ({self.low:.2f}-{self.high:.2f}, {self.rounds} rounds)"


def alternate(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each side once per round, in turn (the order rotates every round, so neither
    side always runs right after the other); each returns the seconds it measured."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(sides[name]())
    return times


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Ratio:
    """Per-round ratios of two sides timed in the same rounds."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return Ratio(statistics.median(ratios), min(ratios), max(ratios), len(ratios))
