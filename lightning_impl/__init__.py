"""The PyTorch Lightning column: the book's mathematics under ``pl.Trainer.fit``.

Lightning removes the hand-written loop and keeps PyTorch: this column compiles nothing of
its own. It wraps the very ``nn.Sequential``, loss, optimizer and ``DataLoader``s that
``torch_impl`` builds in a ``LightningModule`` (``semantics.LitModel``) and lets the Trainer run
them; every module that is plain PyTorch (build, data, weights, forward, activations)
re-exports torch's. Importing ``torch_impl`` first keeps the family's process rules
(see its docstring); ``import pytorch_lightning`` itself loads no TensorFlow.
"""

import torch_impl  # noqa: F401  (the family's root: what it must do for another family, first)
