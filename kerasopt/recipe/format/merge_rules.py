"""How recipe sections merge: `extends`, overrides, and a stage's settings over the top level's.

A leaf module (no kerasopt imports): the loader, the validator, the data check and the
stage resolution all merge by these rules.
"""

from __future__ import annotations

import copy
from typing import Any


def merged_stage_training(raw_training: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    """The training section in force in a stage: the top level, deep-merged with the stage's."""
    merged = deep_merge(raw_training, stage.get("training") or {})
    for key in ("epochs", "steps"):
        if stage.get(key) is not None:
            merged.pop("epochs", None)
            merged.pop("steps", None)
            merged[key] = stage[key]
    return merged


def merged_stage_compression(raw_compression: Any, stage: dict[str, Any]) -> Any:
    """The compression section in force in a stage: the top level, deep-merged with the stage's."""
    own = stage.get("compression")
    if own is None:
        return deep_merge(raw_compression, {})
    if not isinstance(raw_compression, dict) or not isinstance(own, dict):
        return deep_merge(raw_compression, own)
    merged = copy.deepcopy(raw_compression)
    for key, value in own.items():
        # `true` switches a technique on with its defaults, so it replaces, not merges.
        both = isinstance(merged.get(key), dict) and isinstance(value, dict)
        merged[key] = deep_merge(merged[key], value) if both else copy.deepcopy(value)
    return merged


def deep_merge(base: Any, override: Any) -> Any:
    """Merge `override` into a copy of `base`: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = copy.deepcopy(base)
        for key, value in override.items():
            out[key] = deep_merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)
