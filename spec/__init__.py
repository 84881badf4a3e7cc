"""The spec language: YAML model descriptions, validated and shape-checked, framework-free."""

from spec.errors import SpecError, TwinspecError
from spec.load import SPEC_DIR, list_specs, load_spec, resolve_spec
from spec.schema import DataSpec, LayerSpec, ModelSpec, Spec, TrainSpec

__all__ = [
    "SPEC_DIR",
    "DataSpec",
    "LayerSpec",
    "ModelSpec",
    "Spec",
    "SpecError",
    "TrainSpec",
    "TwinspecError",
    "list_specs",
    "load_spec",
    "resolve_spec",
]
