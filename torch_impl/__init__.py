"""The PyTorch backend: spec -> ``torch.nn`` model, ``DataLoader`` pipeline, trainer.

Importing it makes the process safe for TensorFlow too (DESIGN.md, "Hazards"): torch's
optimizers lazily import ``torch._dynamo``, which loads triton's native library, and
loading that after TensorFlow's segfaults. So we import ``torch._dynamo`` now, before
TensorFlow can load; if TensorFlow is already loaded, it is too late for that order, and
we hide triton instead (it only serves ``torch.compile`` on GPUs, which twinspec never
uses).
"""

import sys

BACKEND = "torch"

if "tensorflow" in sys.modules and "triton" not in sys.modules:
    sys.modules["triton"] = None  # makes "import triton" fail cleanly: torch then runs without it
import torch._dynamo  # noqa: E402,F401  (loads triton, if at all, before TensorFlow)
