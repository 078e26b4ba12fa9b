"""Run an `.onnx` file with onnxruntime and compare it with labels and the Keras model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.export.errors import ExportError
from kerasopt.export.output_check import TASKS, compare_outputs


def run_onnx(path: str | os.PathLike[str], x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Return the outputs of a single-input, single-output `.onnx` model on `x`.

    Runs an `onnxruntime.InferenceSession` on the CPU execution provider in batches of
    `batch_size`.

    Args:
        path: The `.onnx` file.
        x: Inputs, first axis = samples, matching the model's input shape.
        batch_size: Samples per session call, >= 1. Defaults to `256`.

    Returns:
        The float32 outputs, one row per sample.

    Raises:
        ExportError: If the file is missing or not loadable, has several inputs or
            outputs, or `x` does not fit its input shape.
    """
    import onnxruntime

    if not Path(path).is_file():
        raise ExportError(f"`path` is not a file. Received: path={str(path)!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ExportError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no "removing initializer" warnings on stderr
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types (InvalidGraph, Fail, ...)
        raise ExportError(f"onnxruntime cannot load {path}: {str(err).strip()[:400]}") from err
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(f"verify_onnx runs models with one input and one output; {path} has "
                          f"{len(inputs)} inputs and {len(outputs)} outputs.")
    x = np.asarray(x, dtype="float32")
    expected = tuple(d if isinstance(d, int) else -1 for d in inputs[0].shape[1:])  # named dims: any size
    if len(x) == 0 or len(x.shape) != len(expected) + 1 or any(
            want not in (-1, got) for want, got in zip(expected, x.shape[1:], strict=True)):
        raise ExportError(f"`x` must hold samples of shape {expected} for {path}. Received: x.shape={x.shape}")
    results = [session.run(None, {inputs[0].name: x[start:start + batch_size]})[0]
               for start in range(0, len(x), batch_size)]
    return np.concatenate(results).astype("float32")


def verify_onnx(path: str | os.PathLike[str], x: np.ndarray, y: np.ndarray | None = None, *,
                keras_outputs: np.ndarray | None = None, task: str = "classification",
                batch_size: int = 256) -> dict[str, Any]:
    """Measure an `.onnx` file on test data: accuracy (or MSE) and distance to the Keras model.

    The file runs in onnxruntime (:func:`run_onnx`); the arguments and the report are
    those of :func:`kerasopt.export.tflite_verify.verify_tflite`.

    Args:
        path: The `.onnx` file.
        x: Test inputs, first axis = samples.
        y: Test labels or targets. Defaults to `None` (no accuracy/MSE).
        keras_outputs: The Keras model's outputs on the same `x`, e.g.
            `model.predict(x)`. Defaults to `None` (no `max_abs_diff`).
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.
        batch_size: Samples per session call. Defaults to `256`.

    Returns:
        See :func:`compare_outputs`.

    Raises:
        ExportError: For a bad argument, a file onnxruntime cannot load, or array
            shapes that do not match.

    Example:
        ```python
        report = verify_onnx("model.onnx", x_test, y_test, keras_outputs=model.predict(x_test))
        assert report["max_abs_diff"] < 1e-4
        ```
    """
    if task not in TASKS:
        raise ExportError(f"`task` must be one of {', '.join(TASKS)}. Received: task={task!r}")
    return compare_outputs(run_onnx(path, x, batch_size=batch_size), y, keras_outputs=keras_outputs, task=task)
