"""Run a `.tflite` file with the LiteRT interpreter and compare it with labels and the Keras model."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.export.errors import ExportError
from kerasopt.export.native_stderr import DELEGATE_NOTICE, dropped_stderr_lines
from kerasopt.export.output_check import TASKS, compare_outputs


def to_tensor(batch: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float inputs as the input tensor `detail` declares them: integer tensors get
    `round(x / scale + zero_point)` clipped to the type's range, others a cast."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu" and detail["quantization"][0]:
        scale, zero_point = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(batch / scale + zero_point), info.min, info.max).astype(dtype)
    return batch.astype(dtype)


def from_tensor(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float values of an output tensor: integers as `(q - zero_point) * scale`."""
    if np.dtype(detail["dtype"]).kind in "iu" and detail["quantization"][0]:
        scale, zero_point = detail["quantization"]
        return (values.astype("float32") - zero_point) * scale
    return values.astype("float32")


def run_tflite(path: str | os.PathLike[str], x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Return the outputs of a single-input, single-output `.tflite` model on `x`.

    Runs `ai_edge_litert.interpreter.Interpreter` in batches of `batch_size`, resizing
    the input tensor when the batch shape changes. Quantized (int8/uint8) inputs and
    outputs are converted with their scale and zero point, so float arrays go in and
    come out whatever the file's I/O types are.

    Args:
        path: The `.tflite` file.
        x: Inputs, first axis = samples, matching the model's input shape.
        batch_size: Samples per interpreter call, >= 1. Defaults to `256`.

    Returns:
        The float32 outputs, one row per sample.

    Raises:
        ExportError: If the file is missing, has several inputs or outputs, or `x`
            does not fit its input shape.
    """
    from ai_edge_litert.interpreter import Interpreter

    if not Path(path).is_file():
        raise ExportError(f"`path` is not a file. Received: path={str(path)!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ExportError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    x = np.asarray(x, dtype="float32")
    interpreter = Interpreter(model_path=str(path))
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(f"verify_tflite runs models with one input and one output; {path} has "
                          f"{len(inputs)} inputs and {len(outputs)} outputs.")
    expected = tuple(int(d) for d in inputs[0]["shape_signature"][1:])  # -1: any size
    if len(x) == 0 or len(x.shape) != len(expected) + 1 or any(
            want not in (-1, got) for want, got in zip(expected, x.shape[1:], strict=True)):
        raise ExportError(f"`x` must hold samples of shape {expected} for {path}. Received: x.shape={x.shape}")
    results, shape = [], None
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        if batch.shape != shape:
            interpreter.resize_tensor_input(inputs[0]["index"], list(batch.shape))
            with _quiet_delegate_notice():
                interpreter.allocate_tensors()
            shape = batch.shape
        interpreter.set_tensor(inputs[0]["index"], to_tensor(batch, inputs[0]))
        interpreter.invoke()
        results.append(from_tensor(interpreter.get_tensor(outputs[0]["index"]), outputs[0]))
    return np.concatenate(results)


def _quiet_delegate_notice() -> contextlib.AbstractContextManager[None]:
    """Drop LiteRT's "Created ... XNNPACK delegate" INFO line; other lines on fd 2 are passed on."""
    return dropped_stderr_lines(DELEGATE_NOTICE)


def verify_tflite(path: str | os.PathLike[str], x: np.ndarray, y: np.ndarray | None = None, *,
                  keras_outputs: np.ndarray | None = None, task: str = "classification",
                  batch_size: int = 256) -> dict[str, Any]:
    """Measure a `.tflite` file on test data: accuracy (or MSE) and distance to the Keras model.

    The file runs in the LiteRT interpreter (`ai_edge_litert`, not the deprecated
    `tf.lite.Interpreter`), see :func:`run_tflite`. For classification the predicted
    class is the argmax of the outputs (a single output column is read as a
    probability, class 1 above 0.5); labels may be integers or one-hot rows. For
    regression `accuracy` is None and `mse` is the mean squared error.

    Args:
        path: The `.tflite` file.
        x: Test inputs, first axis = samples.
        y: Test labels or targets. Defaults to `None` (no accuracy/MSE).
        keras_outputs: The Keras model's outputs on the same `x`, e.g.
            `model.predict(x)`. Defaults to `None` (no `max_abs_diff`).
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.
        batch_size: Samples per interpreter call. Defaults to `256`.

    Returns:
        `{"accuracy": float | None, "max_abs_diff": float | None, "samples": int}`, plus
        `"mse"` for regression and, for classification with `keras_outputs`,
        `"agreement"`: the fraction of samples whose predicted class is the Keras model's.

    Raises:
        ExportError: For a bad argument or array shapes that do not match.

    Example:
        ```python
        report = verify_tflite("model.tflite", x_test, y_test, keras_outputs=model.predict(x_test))
        assert report["max_abs_diff"] < 1e-4
        ```
    """
    if task not in TASKS:
        raise ExportError(f"`task` must be one of {', '.join(TASKS)}. Received: task={task!r}")
    out = run_tflite(path, x, batch_size=batch_size)
    return compare_outputs(out, y, keras_outputs=keras_outputs, task=task)
