"""torch's CPU random stream, replayed in numpy.

``torch.manual_seed(s)`` seeds an MT19937 exactly as numpy's legacy ``seed(s)`` does, so
numpy can reproduce what torch draws without importing torch. This is what lets
``common`` hand every column the same split (and, for lockstep, the same weights and
batches) as the book's torch run.
"""

from __future__ import annotations

import math

import numpy as np


class TorchCPUGenerator:
    """The subset of ``torch.Generator`` (CPU) that twinspec needs, in numpy."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.MT19937()
        # torch.manual_seed == numpy's legacy seeding; torch's engine keeps the low 32 bits
        self._bits._legacy_seeding(seed & 0xFFFFFFFF)

    def words(self, count: int) -> np.ndarray:
        """The next ``count`` 32-bit words, as uint64 to keep arithmetic exact."""
        return self._bits.random_raw(count).astype(np.uint64)

    def uniform_float32(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        """``torch.empty(shape).uniform_(low, high)``: 24 random bits per value, scaled in
        double precision by the bounds' float32 difference (torch subtracts them in float32),
        shifted by the lower one, then rounded to float32."""
        count = math.prod(shape)
        unit = (self.words(count) & np.uint64(0xFFFFFF)).astype(np.float64) / 2**24
        span = float(np.float32(high) - np.float32(low))
        return (unit * span + float(np.float32(low))).astype(np.float32).reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n)``: a Fisher-Yates pass driven by one word per position."""
        perm = np.arange(n, dtype=np.int64)
        if n < 2:
            return perm
        words = self.words(n - 1)
        for i in range(n - 1):
            j = i + int(words[i] % np.uint64(n - i))
            perm[i], perm[j] = perm[j], perm[i]
        return perm
