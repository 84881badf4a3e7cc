"""The PyTorch backend: spec -> ``torch.nn`` model, ``DataLoader`` pipeline, trainer.

Importing the package loads nothing of torch's: ``run.py show`` reads ``torch_impl.listing``,
which is text. The modules that compute import torch; what must be set before it loads
(OpenMP's wait policy) is set here.

Sharing a process with TensorFlow (DESIGN.md, "Hazards"): torch's optimizers lazily import
``torch._dynamo``, which loads triton's native library, and loading that after TensorFlow's
segfaults. :func:`share_with_tensorflow` imports ``torch._dynamo`` before TensorFlow can
load; ``common.columns.share_process`` calls it for a process that will load both families,
and only then: it costs seconds of start-up. If TensorFlow is loaded already when this
package is imported, it is too late for that order, and we hide triton instead (it only
serves ``torch.compile`` on GPUs, which twinspec never uses).
"""

import importlib
import os
import sys

BACKEND = "torch"

# OpenMP threads that wait for work sleep instead of spinning: on a machine other jobs
# load, spinning threads steal the core the straggler needs, and a cnn1 epoch took 17
# times as long (README, "Speed"). Same threads, same partition of the work, so the same
# numbers. Read when torch loads, so it must come first; override it to taste.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def share_with_tensorflow() -> None:
    """Make this process safe for TensorFlow, loaded later or already."""
    if "tensorflow" in sys.modules:
        if "triton" not in sys.modules:
            sys.modules["triton"] = None  # makes "import triton" fail cleanly: torch then runs without it
    else:
        importlib.import_module("torch._dynamo")  # loads triton, if at all, before TensorFlow


if "tensorflow" in sys.modules:
    share_with_tensorflow()
