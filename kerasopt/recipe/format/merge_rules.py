"""How recipe sections merge: `extends` (with `!delete` and `!replace`), overrides, and a stage's
settings over the top level's.

A leaf module (no kerasopt imports): the loader, the validator, the data check and the
stage resolution all merge by these rules.
"""

from __future__ import annotations

import copy
import dataclasses
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


class Delete:
    """The value of a key tagged `!delete` in a derived recipe: the inherited key is removed."""

    def __repr__(self) -> str:
        return "!delete"


DELETE = Delete()
"""The one `!delete` marker (`layers: !delete`)."""


class Replace(dict):
    """A mapping tagged `!replace`: it replaces the inherited mapping instead of merging into it."""


@dataclasses.dataclass(frozen=True)
class Composed:
    """A derived recipe merged over its bases.

    Attributes:
        data: The merged data, plain (no `!delete`/`!replace` markers left).
        unmatched: `(path, keys the bases have there)` for each `!delete` that found no
            inherited key.
        cut: The paths whose inherited content was deleted or replaced (their positions go too).
    """

    data: Any
    unmatched: list[tuple[tuple[Any, ...], list[Any]]]
    cut: list[tuple[Any, ...]]


def compose(base: Any, derived: Any) -> Composed:
    """Merge a derived recipe's data over its (plain) bases, applying `!delete` and `!replace`.

    Mappings merge key by key and anything else replaces, as :func:`deep_merge`; a key whose
    value is :data:`DELETE` is removed from the result, and a :class:`Replace` mapping is
    taken as written, without the inherited keys.

    Example:
        >>> base = {"model": {"layers": [{"type": "dense"}], "dropout": 0.1}}
        >>> compose(base, {"model": {"layers": DELETE, "architecture": "cnn"}}).data
        {'model': {'dropout': 0.1, 'architecture': 'cnn'}}
        >>> compose(base, {"model": Replace(architecture="cnn")}).data
        {'model': {'architecture': 'cnn'}}
    """
    unmatched: list[tuple[tuple[Any, ...], list[Any]]] = []
    cut: list[tuple[Any, ...]] = []

    def merge(old: Any, new: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(new, Replace):
            cut.append(path)
            return merge(None, dict(new), path)
        if new is DELETE:  # where no key can be removed: a list item
            unmatched.append((path, []))
            return None
        if isinstance(new, list):
            return [merge(None, item, (*path, index)) for index, item in enumerate(new)]
        if not isinstance(new, dict):
            return copy.deepcopy(new)
        out = copy.deepcopy(old) if isinstance(old, dict) else {}
        for key, value in new.items():
            if value is DELETE:
                if key in out:
                    del out[key]
                    cut.append((*path, key))
                else:
                    unmatched.append(((*path, key), list(out)))
                continue
            out[key] = merge(out.get(key), value, (*path, key))
        return out

    return Composed(merge(base, derived, ()), unmatched, cut)
