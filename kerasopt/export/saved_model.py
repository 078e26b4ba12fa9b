"""Export to a TensorFlow SavedModel directory, written atomically."""

from __future__ import annotations

import os
from typing import Any

import keras

from kerasopt.atomic import atomic_target, path_bytes


def export_saved_model(model: keras.Model, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Export `model` for inference as a TensorFlow SavedModel directory.

    Uses `model.export(path, format="tf_saved_model")`, which traces the model's call in
    inference mode with a `serve` endpoint (and `serving_default` signature) taking the
    model's inputs with a free batch axis; load it with `tf.saved_model.load` or
    `keras.layers.TFSMLayer`. The directory is built under a temporary name beside
    `path` and renamed when complete; an existing directory at `path` is replaced.

    Args:
        model: The model to export (TensorFlow backend).
        path: The destination directory. Parent directories are created.

    Returns:
        `{"path": str, "bytes": int}` with the total size of the directory's files.

    Example:
        ```python
        info = export_saved_model(model, "saved_models/run/saved_model")
        ```
    """
    with atomic_target(path) as tmp:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    return {"path": str(path), "bytes": path_bytes(path)}
