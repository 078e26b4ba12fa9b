"""A tiny, fast recipe for runner tests: synthetic 3-class data and a one-layer MLP."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

TINY: dict[str, Any] = {
    "name": "tiny", "seed": 0,
    "data": {"source": "synthetic", "samples": 240, "input_shape": [6], "num_classes": 3,
             "test_split": 0.25, "batch_size": 16, "normalization": "standardize"},
    "model": {"architecture": "mlp", "units": [8]},
    "training": {"epochs": 2},
    "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
    "export": {"keras": False},
}


def write_tiny_recipe(folder: Path, **sections: Any) -> str:
    """Write TINY with sections merged in (mappings update, other values replace); return the path."""
    data = copy.deepcopy(TINY)
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)
