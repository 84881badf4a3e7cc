"""What a run prints while it trains: a line per epoch, in the same format for every
column, and on a terminal a bar that moves with the epoch's steps (tqdm) and gives way to
the epoch's line. Never a bar in ``--quiet`` or when the output is not a terminal: a log
(CI's, a file) keeps one line per epoch.

A :class:`Progress` travels to a family's worker (``common.runs.workers``), whose standard
output comes back to this process's: so the bar is drawn on standard output, as wide as
the terminal was when the run began, and the clock restarts where it lands."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from common.present.tables import format_epoch


class Progress:
    """``on_epoch`` and ``on_step`` for a trainer's ``train``: None where nothing is shown."""

    def __init__(self, column: str, epochs: int, quiet: bool, bars: bool | None = None) -> None:
        self.column, self.epochs = column, epochs
        self.start = time.perf_counter()
        if bars is None:
            bars = sys.stdout.isatty() and sys.stderr.isatty()
        self.width = shutil.get_terminal_size().columns
        self.on_epoch = None if quiet else self._epoch
        self.on_step = None if quiet or not bars else self._step
        self.bar: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "bar": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, start=time.perf_counter())  # another process's clock: from now

    def _epoch(self, epoch: int, loss: float, val_loss: float, val_acc: float) -> None:
        self.close()
        line = format_epoch(epoch, self.epochs, loss, val_loss, val_acc, time.perf_counter() - self.start)
        print(f"[{self.column}] {line}", flush=True)

    def _step(self, epoch: int, step: int, steps: int | None) -> None:
        if self.bar is None:
            from tqdm import tqdm  # only a run on a terminal pays for it

            description = f"[{self.column}] epoch {epoch}/{self.epochs}"
            self.bar = tqdm(total=steps, desc=description, unit="step", leave=False, ncols=self.width, file=sys.stdout)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        """The bar gone (an epoch ended, or training stopped part-way)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
