"""Export to a TFLite (LiteRT) flatbuffer with builtin ops only, optionally quantized."""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt.export.atomic import atomic_target
from kerasopt.export.errors import ExportError

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
"""The post-training quantization modes of :func:`export_tflite`."""


def converter_options(quantization: str = "none", representative_data: np.ndarray | None = None,
                      num_representative: int = 100) -> dict[str, Any]:
    """Return the TFLiteConverter settings for a quantization mode, as `model.export` keywords.

    All modes restrict `target_spec.supported_ops` to the TFLite builtin op set (Keras
    adds SELECT_TF_OPS by default, which makes files that plain LiteRT interpreters
    cannot run), so a model needing TensorFlow ops fails at export instead.

    - `"none"`: float32 weights and compute.
    - `"dynamic"`: dynamic-range quantization (`optimizations=[Optimize.DEFAULT]`):
      int8 weights, float activations, no calibration data.
    - `"float16"`: float16 weights (`supported_types=[tf.float16]`), float compute.
    - `"int8"`: full-integer quantization calibrated on `representative_data`
      (`TFLITE_BUILTINS_INT8`, so every op inside runs in int8) with **float32 input
      and output**: the converter adds QUANTIZE/DEQUANTIZE at the edges, so the file
      takes the same raw inputs as the float file and as the Keras model.

    Args:
        quantization: One of :data:`QUANTIZATIONS`. Defaults to `"none"`.
        representative_data: Input samples (first axis = samples) for int8 calibration,
            e.g. drawn from the training data. Defaults to `None`.
        num_representative: How many samples to draw (uniformly, with a fixed seed, so the
            choice is reproducible and not biased by sorted data), >= 1. Defaults to `100`.

    Returns:
        Keyword arguments for `model.export(path, format="litert", **options)`.

    Raises:
        ExportError: For an unknown mode, bad `num_representative`, or int8 without data.
    """
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ExportError(f"`quantization` must be one of {', '.join(QUANTIZATIONS)}. "
                          f"Received: quantization={quantization!r}")
    if isinstance(num_representative, bool) or not isinstance(num_representative, int) or num_representative < 1:
        raise ExportError(f"`num_representative` must be an integer >= 1. "
                          f"Received: num_representative={num_representative!r}")
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "none":
        return {"target_spec": {"supported_ops": builtins}}
    if quantization == "dynamic":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": builtins}}
    if quantization == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]}}
    if representative_data is None or len(representative_data) == 0:
        raise ExportError("`quantization='int8'` needs `representative_data`: input samples (e.g. a few "
                          "hundred training examples) to calibrate activation ranges. Received: "
                          f"representative_data={representative_data!r}")
    return {"optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": _representative(representative_data, num_representative),
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "inference_input_type": tf.float32, "inference_output_type": tf.float32}


def _representative(data: np.ndarray, count: int) -> Callable[[], Iterator[list[np.ndarray]]]:
    data = np.asarray(data, dtype="float32")
    # A fixed-seed uniform draw: data sorted by class must not calibrate on one class only.
    chosen = np.sort(np.random.default_rng(0).choice(len(data), size=min(count, len(data)), replace=False))
    samples = data[chosen]

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(len(samples)):
            yield [samples[i:i + 1]]

    return generate


def export_tflite(model: keras.Model, path: str | os.PathLike[str], *, quantization: str = "none",
                  representative_data: np.ndarray | None = None,
                  num_representative: int = 100) -> dict[str, Any]:
    """Convert `model` to a `.tflite` file that runs on any LiteRT interpreter.

    Uses `model.export(path, format="litert", **converter_options(...))` (Keras traces
    the model in inference mode into a SavedModel, then runs the TFLiteConverter with
    these settings). Only builtin TFLite ops are allowed; a model that needs TensorFlow
    (Flex/select) or custom ops fails with an ExportError naming them. See
    :func:`converter_options` for the quantization modes; int8 keeps float input and
    output. The file is written under a temporary name and renamed, so a failed export
    leaves no file under `path`. Verify the result with
    :func:`kerasopt.export.tflite_verify.verify_tflite`.

    Args:
        model: The model to convert (TensorFlow backend), with a single input for int8.
        path: The destination; must end in `.tflite`. Parent directories are created.
        quantization: `"none"`, `"dynamic"`, `"float16"` or `"int8"`. Defaults to `"none"`.
        representative_data: Calibration inputs, required for int8. Defaults to `None`.
        num_representative: How many samples of `representative_data` to draw for
            calibration. Defaults to `100`.

    Returns:
        `{"path", "bytes", "gzip_bytes", "quantization"}`; `gzip_bytes` is the size of
        the file gzip-compressed (level 9), what a download or device image costs.

    Raises:
        ExportError: For a bad argument, or a conversion failure (naming the ops that
            have no builtin TFLite kernel).

    Example:
        ```python
        info = export_tflite(model, "model.tflite", quantization="int8",
                             representative_data=x_train[:200])
        print(info["bytes"], info["gzip_bytes"])
        ```
    """
    if Path(path).suffix != ".tflite":
        raise ExportError(f"`path` must end in .tflite. Received: path={str(path)!r}")
    options = converter_options(quantization, representative_data, num_representative)
    from tensorflow.lite.python.convert_phase import ConverterError

    with atomic_target(path) as tmp:
        try:
            model.export(str(tmp), format="litert", verbose=False, **options)
        except ConverterError as err:
            raise ExportError(_conversion_message(str(err), quantization)) from err
    data = Path(path).read_bytes()
    return {"path": str(path), "bytes": len(data),
            "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)), "quantization": quantization}


def _conversion_message(text: str, quantization: str) -> str:
    found: dict[str, str] = {}
    for label, kind in (("TF Select ops", "TensorFlow (Flex/select)"), ("Custom ops", "custom")):
        for match in re.finditer(rf"{label}: ([^\n]+)", text):
            for op in match.group(1).split(","):
                found.setdefault(op.strip(), kind)
    for match in re.finditer(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text):
        found.setdefault(match.group(1), "TensorFlow")
    if found:
        ops = ", ".join(f"{op} ({kind})" for op, kind in found.items())
        return (f"The model needs ops that the TFLite builtin op set lacks: {ops}. kerasopt exports builtin "
                f"ops only so the file runs on any LiteRT interpreter; replace the layers that use them "
                f"(quantization={quantization!r}).")
    errors = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    detail = "; ".join(errors[:3]) if errors else text.strip()[:500]
    return f"TFLite conversion failed (quantization={quantization!r}): {detail}"
