"""Export to a native `.keras` file, written atomically."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import keras

from kerasopt.atomic import atomic_target, path_bytes
from kerasopt.export.errors import ExportError

NUMPY_COPY_WARNING = "__array__ implementation doesn't accept a copy keyword"


def export_keras(model: keras.Model, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Save `model` as a `.keras` file (architecture, weights, compile and optimizer state).

    The file is written under a temporary name in the same directory and renamed when
    complete, so a failed save never leaves a partial file under `path`. It loads with
    `keras.saving.load_model(path, safe_mode=True)` when every custom object in the model
    is registered (all kerasopt components are).

    Args:
        model: The model to save.
        path: The destination; must end in `.keras`. Parent directories are created.

    Returns:
        `{"path": str, "bytes": int}`.

    Raises:
        ExportError: If `path` does not end in `.keras`.

    Example:
        ```python
        info = export_keras(model, "saved_models/run/model.keras")
        print(info["bytes"])
        ```
    """
    if Path(path).suffix != ".keras":
        raise ExportError(f"`path` must end in .keras. Received: path={str(path)!r}")
    with atomic_target(path) as tmp, warnings.catch_warnings():
        # Keras 3.15 calls np.array() on TensorFlow variables while saving, and NumPy 2
        # deprecates their copy-less __array__; harmless, and fatal under -W error.
        warnings.filterwarnings("ignore", message=NUMPY_COPY_WARNING, category=DeprecationWarning)
        model.save(tmp)
    return {"path": str(path), "bytes": path_bytes(path)}
