"""torch model <-> neutral weights: torch's, re-exported (the model is torch's ``nn.Sequential``);
the native file is Lightning's own checkpoint, ``trainer.save_checkpoint("model.ckpt")``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytorch_lightning as pl

from common.files.weights import Weights
from lightning_impl.build import build_model
from lightning_impl.semantics import LitModel, trainer_options, trainer_quiet
from spec.schema import ModelSpec
from torch_impl.weights import _writing, export_weights, import_weights

NATIVE_FILE = "model.ckpt"  # what a run folder holds besides the neutral weights.npz

__all__ = ["NATIVE_FILE", "export_weights", "import_weights", "save_native_model"]


def save_native_model(spec: ModelSpec, weights: Weights, path: Path) -> None:
    """The model as Lightning users save it, ``trainer.save_checkpoint(path)`` (weights only:
    a finished run resumes nothing). Its ``"state_dict"`` is the ``LitModel``'s, the listing's
    ``nn.Sequential`` as ``self.model``, channels-first: ``LitModel.load_from_checkpoint(path)``,
    or torch alone, ``torch.load(path, weights_only=True)["state_dict"]``, restores it.

    LIGHTNING: ``save_checkpoint`` needs a model attached to the Trainer, which ``fit`` or
    ``test`` does; here the weights come from the run's result, so the Trainer's strategy is
    connected to the model directly (what ``fit`` does first), and nothing runs.
    """
    model = build_model(spec, "nchw")
    import_weights(model, spec, weights)
    with tempfile.TemporaryDirectory(prefix="twinspec-lightning-") as root, trainer_quiet():
        trainer = pl.Trainer(**trainer_options(0, root))
        trainer.strategy.connect(LitModel(model))
        with _writing(path):
            trainer.save_checkpoint(path, weights_only=True)
