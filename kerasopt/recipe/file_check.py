"""The `.keras` files a valid recipe loads, checked during validation (no TensorFlow).

`model: {architecture: file, path: ...}` (at the top or in a stage) and a distillation
teacher's `path` must name an existing `.keras` file; a wrong one is exit 2 from
`kerasopt validate` and `kerasopt run` before anything is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasopt.recipe.errors import Problem
from kerasopt.recipe.schema import Recipe


def file_problems(recipe: Recipe) -> list[Problem]:
    """One problem per `.keras` path that does not name a readable `.keras` file."""
    return [problem for key, path in _keras_paths(recipe) if (problem := _check(key, path))]


def _keras_paths(recipe: Recipe) -> Iterator[tuple[tuple[Any, ...], str]]:
    yield from _model_path(("model",), recipe.model)
    yield from _teacher_path(("compression",), recipe.compression)
    for index, stage in enumerate(recipe.stages):
        yield from _model_path(("stages", index, "model"), stage.model)
        yield from _teacher_path(("stages", index, "compression"), stage.compression)


def _model_path(key: tuple[Any, ...], model: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
    if getattr(model, "architecture", None) == "file":
        yield (*key, "path"), model.path


def _teacher_path(key: tuple[Any, ...], compression: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
    distillation = getattr(compression, "distillation", None)
    teacher = getattr(distillation, "teacher", None)
    if getattr(teacher, "path", None) is not None:
        yield (*key, "distillation", "teacher", "path"), teacher.path


def _check(key: tuple[Any, ...], path: str) -> Problem | None:
    allowed = "the path of an existing .keras file (relative paths start at the current directory)"
    if not path.endswith(".keras"):
        return Problem(key, "must be a .keras file (Keras 3's saving format)", received=path, allowed=allowed)
    try:
        found = Path(path).is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte...
        found = False
    if not found:
        from kerasopt.recipe.shipped import producer_command

        command = producer_command(path)
        message = "file does not exist" + (
            f"; a shipped recipe writes it: run `{command}` first (from this directory)"
            if command else "")
        return Problem(key, message, received=path, allowed=allowed)
    return None
