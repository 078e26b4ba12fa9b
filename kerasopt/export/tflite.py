"""Export to a TFLite (LiteRT) flatbuffer with builtin ops only, optionally quantized."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt.atomic import atomic_target
from kerasopt.compression.layers import walk
from kerasopt.export.errors import ExportError, describe_conversion_failure
from kerasopt.export.native_stderr import CONVERTER_NOTICE, dropped_stderr_lines

QUANTIZATIONS = ("none", "dynamic", "float16", "int8", "int16x8")
"""The quantization modes of :func:`export_tflite`."""

IO_TYPES = ("float32", "int8", "uint8")
"""The input/output types of :func:`export_tflite`; int8 and uint8 need `quantization="int8"`."""


def converter_options(quantization: str = "none", representative_data: np.ndarray | None = None,
                      num_representative: int = 100, *, quantization_aware: bool = False,
                      io: str = "float32") -> dict[str, Any]:
    """Return the TFLiteConverter settings for a quantization mode, as `model.export` keywords.

    All modes restrict `target_spec.supported_ops` to TFLite builtin op sets (Keras
    adds SELECT_TF_OPS by default, which makes files that plain LiteRT interpreters
    cannot run), so a model needing TensorFlow ops fails at export instead.

    - `"none"`: float32 weights and compute.
    - `"dynamic"`: dynamic-range quantization (`optimizations=[Optimize.DEFAULT]`):
      int8 weights, float activations, no calibration data.
    - `"float16"`: float16 weights (`supported_types=[tf.float16]`), float compute.
    - `"int8"`: full-integer quantization calibrated by the converter on
      `representative_data` (`TFLITE_BUILTINS_INT8`, so every op inside runs in int8)
      with **float32 input and output**: the converter adds QUANTIZE/DEQUANTIZE at the
      edges. It quantizes the raw input with one scale, which wrecks inputs whose
      features span different ranges; :func:`export_tflite` therefore converts float
      models through calibrated fake quantization instead (see there).
    - `"int8"` with `quantization_aware=True`: for a model whose graph holds
      fake-quantization ops (:class:`kerasopt.compression.quantization.QuantizeWrapper`):
      the converter takes the ranges from those ops, so no data is needed; ops outside
      them stay float.
    - `io="int8"` or `"uint8"` (with `"int8"` only): the file's input and output
      tensors are integers (`inference_input_type`/`inference_output_type`) with the
      scale and zero point of the ranges, as integer-only hardware (TFLite Micro, Edge
      TPU, NPU delegates) needs; the caller quantizes inputs and dequantizes outputs.
    - `"int16x8"`: 16-bit activations and 8-bit weights
      (`EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`, ops without such a
      kernel fall back to float builtins), calibrated on `representative_data`, float
      input and output.

    Args:
        quantization: One of :data:`QUANTIZATIONS`. Defaults to `"none"`.
        representative_data: Input samples (first axis = samples) for int8/int16x8
            calibration, e.g. drawn from the training data. Defaults to `None`.
        num_representative: How many samples to draw (uniformly, with a fixed seed, so the
            choice is reproducible and not biased by sorted data), >= 1. Defaults to `100`.
        quantization_aware: Whether the model carries its own int8 ranges (fake
            quantization); only with `"int8"`. Defaults to `False`.
        io: One of :data:`IO_TYPES`, the type of the file's input and output; int8
            and uint8 only with `"int8"`. Defaults to `"float32"`.

    Returns:
        Keyword arguments for `model.export(path, format="litert", **options)`.

    Raises:
        ExportError: For an unknown mode or `io`, integer `io` without int8, bad
            `num_representative`, or int8/int16x8 without data.
    """
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ExportError(f"`quantization` must be one of {', '.join(QUANTIZATIONS)}. "
                          f"Received: quantization={quantization!r}")
    if io not in IO_TYPES:
        raise ExportError(f"`io` must be one of {', '.join(IO_TYPES)}. Received: io={io!r}")
    if io != "float32" and quantization != "int8":
        raise ExportError(f"`io={io!r}` (integer input and output) needs quantization='int8'; with "
                          f"quantization={quantization!r} only io='float32' is possible.")
    if isinstance(num_representative, bool) or not isinstance(num_representative, int) or num_representative < 1:
        raise ExportError(f"`num_representative` must be an integer >= 1. "
                          f"Received: num_representative={num_representative!r}")
    if quantization_aware and quantization != "int8":
        raise ExportError(f"`quantization_aware=True` goes with quantization='int8' only. "
                          f"Received: quantization={quantization!r}")
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    edges = {"inference_input_type": getattr(tf, io), "inference_output_type": getattr(tf, io)}
    if quantization == "none":
        return {"target_spec": {"supported_ops": builtins}}
    if quantization_aware:
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": builtins},
                **(edges if io != "float32" else {})}
    if quantization == "dynamic":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": builtins}}
    if quantization == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]}}
    if representative_data is None or len(representative_data) == 0:
        raise ExportError(f"`quantization={quantization!r}` needs `representative_data`: input samples (e.g. a "
                          "few hundred training examples) to calibrate activation ranges. Received: "
                          f"representative_data={representative_data!r}")
    ops = ([tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if quantization == "int8" else
           [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, *builtins])
    return {"optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": _representative(representative_data, num_representative),
            "target_spec": {"supported_ops": ops}, **edges}


def _draw(data: np.ndarray, count: int) -> np.ndarray:
    data = np.asarray(data, dtype="float32")
    # A fixed-seed uniform draw: data sorted by class must not calibrate on one class only.
    return data[np.sort(np.random.default_rng(0).choice(len(data), size=min(count, len(data)), replace=False))]


def _representative(data: np.ndarray, count: int) -> Callable[[], Iterator[list[np.ndarray]]]:
    samples = _draw(data, count)

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(len(samples)):
            yield [samples[i:i + 1]]

    return generate


def _int8_plan(model: keras.Model, quantization: str, representative_data: np.ndarray | None,
               num_representative: int, io: str) -> tuple[keras.Model, dict[str, Any], str | None]:
    """The model to convert, its converter options, and where its int8 ranges come from."""
    from kerasopt.compression import quantization as qat
    from kerasopt.compression.quantization.quantize_model import SUPPORT as QAT_SUPPORT

    wrappers = qat.quantize_wrappers(model)
    if wrappers:
        if quantization not in ("int8", "none"):
            raise ExportError(f"A quantization-aware model (QuantizeWrapper layers) exports with "
                              f"quantization='int8' (its trained ranges) or 'none' (float, simulating int8). "
                              f"Received: quantization={quantization!r}")
        if quantization == "none":
            return model, converter_options("none", io=io), None
        unobserved = [w.name for w in qat.range_layers(model)
                      if float(keras.ops.convert_to_numpy(w.observations)) == 0]
        if unobserved:
            raise ExportError(f"The activation ranges of {', '.join(unobserved)} were never learned: fine-tune "
                              "the quantization-aware model (or calibrate_ranges it on samples) before export.")
        return model, converter_options("int8", quantization_aware=True, io=io), "trained"
    if quantization != "int8":
        return model, converter_options(quantization, representative_data, num_representative, io=io), None
    options = converter_options("int8", representative_data, num_representative, io=io)  # validates the arguments
    rewritable = isinstance(model, keras.Sequential) or type(model).__name__ == "Functional"
    if not rewritable or not any(QAT_SUPPORT.supports(layer) for _, layer in walk(model)):
        return model, options, "converter"
    calibrated = qat.quantize_model(model, preserve_sparsity=False)
    qat.calibrate_ranges(calibrated, _draw(representative_data, num_representative))
    return calibrated, converter_options("int8", quantization_aware=True, io=io), "calibrated"


def export_tflite(model: keras.Model, path: str | os.PathLike[str], *, quantization: str = "none",
                  representative_data: np.ndarray | None = None,
                  num_representative: int = 100, io: str = "float32") -> dict[str, Any]:
    """Convert `model` to a `.tflite` file that runs on any LiteRT interpreter.

    Uses `model.export(path, format="litert", **converter_options(...))` (Keras traces
    the model in inference mode into a SavedModel, then runs the TFLiteConverter).
    Only builtin TFLite ops are allowed; a model that needs others (an LSTM that is not
    unrolled, a Flex-only op) fails with an ExportError naming the ops and the layers
    using them. The file is written under a temporary name and renamed, so a failed
    export leaves no file under `path`. Verify it with
    :func:`kerasopt.export.tflite_verify.verify_tflite`.

    `"int8"` (float input and output, int8 inside) takes its ranges from:

    - a quantization-aware model (:func:`kerasopt.compression.quantization.quantize_model`,
      then fine-tuned): its trained ranges; `representative_data` is not used. Such a
      model exports only as `"int8"` or `"none"`.
    - a float Functional/Sequential model: a copy with batch norms folded and every
      Dense/Conv1D/Conv2D/DepthwiseConv2D wrapped in fake quantization (and the Adds,
      activations and global poolings between them given ranges of their own, so the
      file is integer from the first quantized layer to the output), its ranges set
      to the min/max reached on the representative samples
      (:func:`kerasopt.compression.quantization.calibrate_ranges`). Each layer's input
      is quantized where the layer sees it, so leading `Normalization`/`Rescaling`
      layers run in float on the raw input: a single int8 scale for raw features that
      span 0.1 to 2500 would otherwise erase the small ones.
    - any other model (subclassed, or without such layers): the converter's own
      calibration (:func:`converter_options`).

    `io="int8"`/`"uint8"` makes the input and output tensors integers for integer-only
    hardware. The file must then start and end in int8: a model whose first layers run
    in float (a leading `Normalization` kept in float, see above) fails with an
    ExportError naming the input that stayed float, and no file is left.

    Args:
        model: The model to convert (TensorFlow backend), with a single input for int8.
        path: The destination; must end in `.tflite`. Parent directories are created.
        quantization: One of :data:`QUANTIZATIONS`. Defaults to `"none"`.
        representative_data: Calibration inputs, required for int8 and int16x8 of a
            float model. Defaults to `None`.
        num_representative: How many samples of `representative_data` to draw for
            calibration. Defaults to `100`.
        io: One of :data:`IO_TYPES`: the type of the file's input and output tensors.
            Defaults to `"float32"`.

    Returns:
        `{"path", "bytes", "gzip_bytes", "quantization", "io"}`, plus `"int8_ranges"`
        (`"trained"`, `"calibrated"` or `"converter"`) for int8; `gzip_bytes` is the size
        of the file gzip-compressed (level 9), what a download or device image costs.

    Raises:
        ExportError: For a bad argument, a quantization-aware model whose ranges were
            never learned, or a conversion failure.

    Example:
        >>> import tempfile
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> data = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
        >>> info = export_tflite(model, f"{tempfile.mkdtemp()}/m.tflite", quantization="int8",
        ...                      representative_data=data)
        >>> info["quantization"], info["int8_ranges"]
        ('int8', 'calibrated')
    """
    if Path(path).suffix != ".tflite":
        raise ExportError(f"`path` must end in .tflite. Received: path={str(path)!r}")
    converted, options, ranges = _int8_plan(model, quantization, representative_data, num_representative, io)
    from tensorflow.lite.python.convert_phase import ConverterError

    with atomic_target(path) as tmp:
        try:
            with dropped_stderr_lines(CONVERTER_NOTICE):
                converted.export(str(tmp), format="litert", verbose=False, **options)
        except ConverterError as err:
            layers = [(name, type(layer).__name__) for name, layer in walk(model)]
            raise ExportError(describe_conversion_failure(str(err), quantization, layers)) from err
        if io != "float32":
            _check_edges(tmp, io, model)
    data = Path(path).read_bytes()
    info = {"path": str(path), "bytes": len(data),
            "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)), "quantization": quantization,
            "io": io}
    if ranges is not None:
        info["int8_ranges"] = ranges
    return info


def _check_edges(path: str | os.PathLike[str], io: str, model: keras.Model) -> None:
    """Fail when the converter left an input or output in float although `io` asked for integers."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    edges = [("input", d) for d in interpreter.get_input_details()]
    edges += [("output", d) for d in interpreter.get_output_details()]
    wrong = [f"{kind} {d['name']!r} is {np.dtype(d['dtype']).name}" for kind, d in edges
             if np.dtype(d["dtype"]) != np.dtype(io)]
    if wrong:
        first = [f"{name} ({type(layer).__name__})" for name, layer in walk(model)][:3]
        raise ExportError(
            f"io={io!r}: the converted file is not integer-only: {'; '.join(wrong)}. The layers "
            f"next to it run in float (the model starts with {', '.join(first)}); integer-only "
            "hardware needs every op in int8. Fold preprocessing such as Normalization/Rescaling into "
            "the data, or export with io='float32'.")
