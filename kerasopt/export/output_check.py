"""What verifying an exported file measures: accuracy (or MSE) and the distance to the Keras model.

Shared by the TFLite and the ONNX verification, which differ only in how they run the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.export.errors import ExportError

TASKS = ("classification", "regression")
"""What a model's outputs are scored as."""


def _predicted(outputs: np.ndarray) -> np.ndarray:
    scores = outputs.reshape(len(outputs), -1)
    return scores.argmax(axis=1) if scores.shape[1] > 1 else (scores[:, 0] > 0.5).astype("int64")


def compare_outputs(out: np.ndarray, y: np.ndarray | None = None, *, keras_outputs: np.ndarray | None = None,
                    task: str = "classification") -> dict[str, Any]:
    """Accuracy (or MSE) of an exported file's outputs, and their distance to the Keras model's.

    Args:
        out: The exported model's outputs, one row per sample.
        y: Labels (integers or one-hot rows) or regression targets. Defaults to `None`.
        keras_outputs: The Keras model's outputs on the same inputs. Defaults to `None`.
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.

    Returns:
        `{"accuracy", "max_abs_diff", "samples"}`, plus `"mse"` for regression and
        `"agreement"` (same predicted class as Keras) for classification with `keras_outputs`.

    Raises:
        ExportError: For an unknown task or arrays whose shapes do not match.
    """
    if task not in TASKS:
        raise ExportError(f"`task` must be one of {', '.join(TASKS)}. Received: task={task!r}")
    report: dict[str, Any] = {"accuracy": None, "max_abs_diff": None, "samples": len(out)}
    if keras_outputs is not None:
        reference = np.asarray(keras_outputs, dtype="float32")
        if reference.size != out.size:
            raise ExportError(f"`keras_outputs` must have the exported outputs' shape {out.shape}. "
                              f"Received: keras_outputs.shape={reference.shape}")
        reference = reference.reshape(out.shape)
        report["max_abs_diff"] = float(np.max(np.abs(out - reference)))
        if task == "classification":
            report["agreement"] = float(np.mean(_predicted(out) == _predicted(reference)))
    if y is None:
        return report
    y = np.asarray(y)
    if len(y) != len(out):
        raise ExportError(f"`y` must have one entry per sample ({len(out)}). Received: y.shape={y.shape}")
    if task == "regression":
        report["mse"] = float(np.mean((out.reshape(len(out), -1) - y.reshape(len(y), -1).astype("float32")) ** 2))
        return report
    labels = y.reshape(len(y), -1)
    labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
    report["accuracy"] = float(np.mean(_predicted(out) == labels.astype("int64")))
    return report
