"""The `.keras` files a valid recipe loads, checked during validation (no TensorFlow).

`model: {architecture: file, path: ...}` (at the top or in a stage) and a distillation
teacher's `path` must name an existing `.keras` file; a wrong one is exit 2 from
`kerasopt validate` and `kerasopt run` before anything is built. The width of a model
file's output is read from the file's `config.json` (:func:`output_width`), so the data
check can compare it with what the data needs.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasopt.recipe.errors import Problem
from kerasopt.recipe.format.schema import Recipe


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
        from kerasopt.recipe.format.shipped import producer_command

        command = producer_command(path)
        message = "file does not exist" + (
            f"; a shipped recipe writes it: run `{command}` first (from this directory)"
            if command else "")
        return Problem(key, message, received=path, allowed=allowed)
    return None


# Layers whose output has the shape of their input: the output width is found behind them.
_SHAPE_KEEPING = frozenset({
    "Activation", "ActivityRegularization", "AlphaDropout", "BatchNormalization", "Dropout", "ELU",
    "GaussianDropout", "GaussianNoise", "GroupNormalization", "Identity", "LayerNormalization",
    "LeakyReLU", "PReLU", "ReLU", "Softmax", "UnitNormalization"})
MAX_CONFIG_BYTES = 64 * 2**20
"""The largest `config.json` read from a `.keras` file (the weights are never read)."""


def output_width(path: str) -> int | None:
    """The width of the single output of the model in a `.keras` file, without Keras.

    Read from the zip's `config.json`: the output layer's `units` (Dense and the like),
    looking through layers that keep their input's shape (Activation, Dropout, Softmax,
    normalization). `None` when the file cannot be read this way, or the model has
    several outputs, or its output layer's width is not written in its config; the run
    checks such models when it loads them.

    Args:
        path: The `.keras` file.

    Returns:
        The number of output units, or None when unknown.

    Example:
        >>> output_width("no/such/model.keras") is None
        True
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                return None
            config = json.loads(archive.read(info))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError):
        return None
    try:
        return _model_width(config)
    except (KeyError, TypeError, IndexError, AttributeError):
        return None


def _model_width(model: dict[str, Any]) -> int | None:
    config = model["config"]
    layers = config["layers"]
    if model["class_name"] == "Sequential":
        for layer in reversed(layers):
            if layer["class_name"] not in _SHAPE_KEEPING:
                return _units(layer)
        return None
    outputs = config["output_layers"]
    if not isinstance(outputs[0], str):  # several outputs: [[name, node, index], ...]
        if len(outputs) != 1:
            return None
        outputs = outputs[0]
    layer = next(layer for layer in layers if layer["name"] == outputs[0])
    if layer["class_name"] in _SHAPE_KEEPING:  # its input tensor's shape is written with it
        width = layer["inbound_nodes"][0]["args"][0]["config"]["shape"][-1]
        return width if isinstance(width, int) else None
    return _units(layer)


def _units(layer: dict[str, Any]) -> int | None:
    units = layer["config"].get("units")
    return units if isinstance(units, int) and not isinstance(units, bool) else None
