"""The PyTorch column: spec -> ``torch.nn`` model, ``DataLoader`` pipeline, trainer; the root
of the torch family (``common.columns``).

Importing the package loads nothing of torch's: ``run.py show`` reads ``torch_impl.listing``,
which is text. The modules that compute import torch, with torch's own OpenMP settings: a
passive wait policy made an epoch 1.4 to 2.7 times as long on a quiet 2-core machine. How
many threads torch gets is decided before it loads, by the load the run finds
(``common.threads``).

Sharing a process with another family (DESIGN.md, "Hazards"): torch's optimizers lazily
import ``torch._dynamo``, which loads triton's native library, and loading that after
TensorFlow's segfaults. So triton must load before TensorFlow, or not at all (it only
serves ``torch.compile`` on GPUs, which twinspec never uses; torch then logs that it found
none). The registry (``common.columns``) asks this package, the torch family's root, at the
two moments that matter: :func:`share_process` when a process is about to load this family
and another, :func:`another_family_loads` just before another family's framework loads.
"""

import importlib
import sys


def share_process() -> None:
    """Before a process loads torch and another family (compare, report, the tests): triton
    now, with ``torch._dynamo``, unless TensorFlow is loaded already."""
    if "tensorflow" in sys.modules:
        sys.modules.setdefault("triton", None)  # makes "import triton" fail cleanly: torch runs without it
    else:
        importlib.import_module("torch._dynamo")  # loads triton, if at all, before TensorFlow


def another_family_loads() -> None:
    """Just before another family's framework loads, in a process that may never load torch:
    if torch is here, triton now; if not, kept out, for a torch loaded later."""
    if "torch" in sys.modules:
        share_process()
    else:
        sys.modules.setdefault("triton", None)


if "tensorflow" in sys.modules:  # too late for the registry to have asked: TensorFlow is here
    share_process()
