"""The PyTorch backend: spec -> ``torch.nn`` model, ``DataLoader`` pipeline, trainer.

Importing the package loads nothing of torch's: ``run.py show`` reads ``torch_impl.listing``,
which is text. The modules that compute import torch, with torch's own OpenMP settings: a
passive wait policy made an epoch 1.4 to 2.7 times as long on a quiet 2-core machine. How
many threads torch gets is decided before it loads, by the load the run finds
(``common.threads``; README, "Threads and contention").

Sharing a process with TensorFlow (DESIGN.md, "Hazards"): torch's optimizers lazily import
``torch._dynamo``, which loads triton's native library, and loading that after TensorFlow's
segfaults. :func:`share_with_tensorflow` imports ``torch._dynamo`` before TensorFlow can
load; ``common.columns.share_process`` calls it for a process that will load both families,
and only then: it costs seconds of start-up. If TensorFlow is loaded already when this
package is imported, it is too late for that order, and we hide triton instead (it only
serves ``torch.compile`` on GPUs, which twinspec never uses).
"""

import importlib
import sys

BACKEND = "torch"


def share_with_tensorflow() -> None:
    """Make this process safe for TensorFlow, loaded later or already."""
    if "tensorflow" in sys.modules:
        if "triton" not in sys.modules:
            sys.modules["triton"] = None  # makes "import triton" fail cleanly: torch then runs without it
    else:
        importlib.import_module("torch._dynamo")  # loads triton, if at all, before TensorFlow


if "tensorflow" in sys.modules:
    share_with_tensorflow()
