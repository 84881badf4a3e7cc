"""The book's data pipeline: torch's, re-exported. ``Trainer.fit`` and ``Trainer.test`` take plain
``DataLoader``s, so the Lightning column trains and tests on the very loaders (sampler,
generator, plan) torch's does."""

from torch_impl.data import (  # noqa: I001  (in torch's order: the mirror test reads the names in order)
    TransformedTensorDataset,
    RandomHorizontalFlips,
    PlannedDataset,
    PlanSampler,
    ChannelsLast,
    TrainingLoader,
    make_loaders,
    make_test_loader,
    numpy_batches,
)

__all__ = [
    "TransformedTensorDataset",
    "RandomHorizontalFlips",
    "PlannedDataset",
    "PlanSampler",
    "ChannelsLast",
    "TrainingLoader",
    "make_loaders",
    "make_test_loader",
    "numpy_batches",
]
