"""The book's data pipeline: torch's, re-exported. ``Trainer.fit`` takes plain ``DataLoader``s,
so the Lightning column trains on the very loaders (sampler, generator, plan) torch's does."""

from torch_impl.data import (  # in torch's order: the mirror test reads the names in order
    PlannedDataset,
    PlanSampler,
    TransformedTensorDataset,
    make_loaders,
    pipeline_state,
    planned_epochs_left,
    reseed,
    restore_pipeline,
)

__all__ = [
    "TransformedTensorDataset",
    "PlannedDataset",
    "PlanSampler",
    "make_loaders",
    "reseed",
    "planned_epochs_left",
    "pipeline_state",
    "restore_pipeline",
]
