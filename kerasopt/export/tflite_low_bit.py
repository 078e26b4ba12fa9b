"""int4 weights in a TFLite file that LiteRT runs, with a measured per-layer mixed precision.

What runs here (checked with ai-edge-litert 2.3, ai-edge-quantizer 0.10, Keras 3.15, TF 2.21):

- **ai-edge-quantizer's dynamic int4** (`add_dynamic_config(num_bits=4)`): FULLY_CONNECTED
  and CONV_2D weights stored as int4, per output channel or in blocks of 32/64/128/256
  input values, activations quantized on the fly; the LiteRT interpreter (XNNPACK) runs it.
  This is what :func:`export_tflite_int4` writes.
- Not used, because it does not pay or does not run: Keras's `Model.quantize("int4")`
  converts to a file *larger* than the float one (its int4 kernels become BATCH_MATMUL with
  CAST/SUB/MUL around unpacked weights: 474 kB against 315 kB for a 3-Dense MLP) whose
  outputs differed from the quantized Keras model's by up to 0.86; ai-edge-quantizer's
  int2 blockwise files fail in XNNPACK ("unsupported datatype (INT2)"); the TFLiteConverter
  has no int4 post-training option (`_experimental_low_bit_qat` needs a model trained with
  4-bit fake quantization).

Layers are matched to ops by their weights (the op's filter holds the kernel's values),
not by name: the converter renames layers (`dense_1_2`) and names the last op's output
`StatefulPartitionedCall_1:0`.

**Mixed precision**: :func:`layer_sensitivity` quantizes one layer at a time to int4 (the
rest float), runs each file on validation data and measures the accuracy drop (MSE rise
for regression) and the mean output change against the float file. The `keep_float` most
sensitive layers, and with `max_drop` every layer whose drop exceeds it, are kept at int8
(dynamic range, per channel) or float.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt.atomic import atomic_target
from kerasopt.compression.layers import walk
from kerasopt.export.errors import ExportError
from kerasopt.export.low_bit_packages import INSTALL_HINT

GRANULARITIES = ("channel", "block")
BLOCK_SIZES = (32, 64, 128, 256)
KEEP_AS = ("int8", "float")
_OPS = {"FULLY_CONNECTED": "FULLY_CONNECTED", "CONV_2D": "CONV_2D"}


def _quantizer() -> Any:
    try:
        from ai_edge_quantizer import quantizer
    except ImportError as err:
        raise ExportError(f"quantization='int4' needs ai-edge-quantizer, not installed: {INSTALL_HINT}") from err
    return quantizer


def _interpreter(path: str | os.PathLike[str]) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return interpreter


def quantizable_layers(model: keras.Model, float_path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """The layers of `model` whose ops in its float TFLite file can hold int4 weights.

    Args:
        model: The Keras model the file was converted from.
        float_path: Its float TFLite file.

    Returns:
        `{qualified layer name: {"op": "FULLY_CONNECTED" | "CONV_2D", "tensor": output tensor name}}`,
        in the file's op order.
    """
    interpreter = _interpreter(float_path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    kernels = {}
    for name, layer in walk(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) >= 2:
            kernels[name] = np.sort(keras.ops.convert_to_numpy(kernel).ravel())
    candidates = []
    for op in interpreter._get_ops_details():  # noqa: SLF001 - LiteRT's only op listing
        if op["op_name"] not in _OPS or len(op["inputs"]) < 2:
            continue
        try:
            weights = np.sort(np.asarray(interpreter.get_tensor(op["inputs"][1]), dtype="float32").ravel())
        except ValueError:  # not a constant
            continue
        candidates.append((weights, {"op": op["op_name"], "tensor": tensors[op["outputs"][0]]["name"]}))
    found: dict[str, dict[str, str]] = {}
    claimed: set[int] = set()
    # Same values first; then, in order, the same number of weights (a batch norm the converter
    # folded into the layer scales its kernel).
    for same in (lambda a, b: np.allclose(a, b, atol=1e-6), lambda a, b: True):
        for name, values in kernels.items():
            match = next((i for i, (weights, _) in enumerate(candidates) if i not in claimed and name not in found
                          and weights.shape == values.shape and same(values, weights)), None)
            if match is not None:
                claimed.add(match)
                found[name] = candidates[match][1]
    order = {id(op): i for i, (_, op) in enumerate(candidates)}
    return dict(sorted(found.items(), key=lambda item: order[id(item[1])]))


def quantize_file(float_path: str | os.PathLike[str], path: str | os.PathLike[str],
                  ops: dict[str, dict[str, str]], bits: dict[str, int], *, granularity: str = "channel",
                  block_size: int = 32) -> None:
    """Write `float_path` with each layer of `bits` quantized: `{name: 4 or 8}` (others stay float).

    int4 uses `granularity` (per output channel, or blocks of `block_size` input values;
    CONV_2D ops are per channel either way, ai-edge-quantizer has no blockwise int4 for them);
    int8 is always per channel.
    """
    if not bits:  # every layer kept in float
        with atomic_target(path) as tmp:
            Path(tmp).write_bytes(Path(float_path).read_bytes())
        return
    module = _quantizer()
    from ai_edge_quantizer import qtyping

    q = module.Quantizer(str(float_path))
    for name, width in bits.items():
        # ai-edge-quantizer's policy has blockwise int4 for FULLY_CONNECTED only.
        block = width == 4 and granularity == "block" and ops[name]["op"] == "FULLY_CONNECTED"
        q.add_dynamic_config(  # an op's scope is its output tensor names, each followed by ";"
            regex=f"^{re.escape(ops[name]['tensor'])};$",
            operation_name=qtyping.TFLOperationName(ops[name]["op"]), num_bits=width,
            granularity=(getattr(qtyping.QuantGranularity, f"BLOCKWISE_{block_size}") if block
                         else qtyping.QuantGranularity.CHANNELWISE))
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a size summary
        result = q.quantize()
    with atomic_target(path) as tmp:
        Path(tmp).write_bytes(bytes(result.quantized_model))


def layer_sensitivity(float_path: str | os.PathLike[str], ops: dict[str, dict[str, str]], x: np.ndarray,
                      y: np.ndarray, *, task: str = "classification", granularity: str = "channel",
                      block_size: int = 32) -> dict[str, dict[str, float | None]]:
    """Quantize one layer at a time to int4 and measure what it costs on `(x, y)`.

    Returns:
        `{name: {"accuracy", "accuracy_drop", "mse", "mse_rise", "output_change"}}` (the
        ones of the task), `output_change` being the mean absolute change of the outputs
        against the float file's; in `ops` order.
    """
    from kerasopt.export.output_check import compare_outputs
    from kerasopt.export.tflite_verify import run_tflite

    reference = run_tflite(float_path, x)
    base = compare_outputs(reference, y, task=task)
    measured: dict[str, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in ops:
            path = Path(folder) / "one_layer.tflite"
            quantize_file(float_path, path, ops, {name: 4}, granularity=granularity, block_size=block_size)
            outputs = run_tflite(path, x)
            scores = compare_outputs(outputs, y, task=task)
            entry: dict[str, float | None] = {"output_change": float(np.mean(np.abs(outputs - reference)))}
            if task == "regression":
                entry.update(mse=scores["mse"], mse_rise=scores["mse"] - base["mse"])
            else:
                entry.update(accuracy=scores["accuracy"], accuracy_drop=base["accuracy"] - scores["accuracy"])
            measured[name] = entry
    return measured


def _drop(entry: dict[str, Any]) -> float:
    return float(entry.get("accuracy_drop", entry.get("mse_rise", 0.0)))


def choose_precisions(sensitivity: dict[str, dict[str, Any]], *, keep_float: int = 0,
                      max_drop: float | None = None, keep_as: str = "int8") -> dict[str, str]:
    """`{name: "int4" | keep_as}`: the `keep_float` most sensitive layers and those over `max_drop` kept.

    Layers are ranked by their drop, then by their output change (small validation sets tie).

    Example:
        >>> choose_precisions({"a": {"accuracy_drop": 0.0, "output_change": 0.1},
        ...                    "b": {"accuracy_drop": 0.0, "output_change": 0.3},
        ...                    "c": {"accuracy_drop": 0.05, "output_change": 0.2}}, keep_float=1, max_drop=0.01)
        {'a': 'int4', 'b': 'int4', 'c': 'int8'}
        >>> choose_precisions({"a": {"accuracy_drop": 0.0, "output_change": 0.1},
        ...                    "b": {"accuracy_drop": 0.0, "output_change": 0.3}}, keep_float=1, keep_as="float")
        {'a': 'int4', 'b': 'float'}
    """
    ranked = sorted(sensitivity, key=lambda n: (_drop(sensitivity[n]), sensitivity[n]["output_change"]),
                    reverse=True)
    kept = set(ranked[:keep_float])
    if max_drop is not None:
        kept |= {name for name in ranked if _drop(sensitivity[name]) > max_drop}
    return {name: keep_as if name in kept else "int4" for name in sensitivity}


def check_int4_args(granularity: str, block_size: int, keep_float: int, max_drop: float | None,
                    keep_as: str) -> None:
    """Raise an ExportError naming the argument unless every one is allowed."""
    if granularity not in GRANULARITIES:
        raise ExportError(f"`granularity` must be one of {', '.join(GRANULARITIES)}. Received: granularity={granularity!r}")
    if block_size not in BLOCK_SIZES or isinstance(block_size, bool):
        raise ExportError(f"`block_size` must be one of {BLOCK_SIZES}. Received: block_size={block_size!r}")
    if isinstance(keep_float, bool) or not isinstance(keep_float, int) or keep_float < 0:
        raise ExportError(f"`keep_float` must be an integer >= 0. Received: keep_float={keep_float!r}")
    if max_drop is not None and (isinstance(max_drop, bool) or not isinstance(max_drop, (int, float))
                                 or not 0.0 <= max_drop <= 1.0):
        raise ExportError(f"`max_drop` must be None or a number in [0, 1]. Received: max_drop={max_drop!r}")
    if keep_as not in KEEP_AS:
        raise ExportError(f"`keep_as` must be one of {', '.join(KEEP_AS)}. Received: keep_as={keep_as!r}")


def export_tflite_int4(model: keras.Model, path: str | os.PathLike[str], *, granularity: str = "channel",
                       block_size: int = 32, keep_float: int = 0, max_drop: float | None = None,
                       keep_as: str = "int8", validation: tuple[np.ndarray, np.ndarray] | None = None,
                       task: str = "classification") -> dict[str, Any]:
    """Write `model` as a TFLite file with int4 weights (ai-edge-quantizer's dynamic int4).

    The float file is converted first (:func:`kerasopt.export.tflite.export_tflite`), then
    every Dense/Conv1D/Conv2D op's weights are stored as int4 and its activations are
    quantized on the fly by LiteRT; other ops stay float. Input and output are float32.
    With `validation`, each layer's int4 cost is measured (:func:`layer_sensitivity`) and
    the most sensitive layers are kept at `keep_as` (:func:`choose_precisions`).

    Args:
        model: The model to convert.
        path: The destination, ending in `.tflite`.
        granularity: `"channel"` (one scale per output channel) or `"block"` (one per
            `block_size` input values of a channel). Defaults to `"channel"`.
        block_size: 32, 64, 128 or 256. Defaults to `32`.
        keep_float: How many of the most sensitive layers to keep at `keep_as`. Defaults to `0`.
        max_drop: Keep every layer whose int4 alone costs more than this accuracy (MSE
            for regression) on `validation`. Defaults to `None`.
        keep_as: `"int8"` (dynamic range, per channel) or `"float"`. Defaults to `"int8"`.
        validation: `(x, y)` for the sensitivity pass; required with `keep_float` or
            `max_drop`. Defaults to `None` (no pass, every layer int4).
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.

    Returns:
        `{"path", "bytes", "gzip_bytes", "quantization": "int4", "io": "float32",
        "granularity", "precisions": {layer: "int4" | "int8" | "float"}}` and, with
        `validation`, `"sensitivity"` (per layer, see :func:`layer_sensitivity`).

    Raises:
        ExportError: For a bad argument, ai-edge-quantizer missing, a model with no layer
            to quantize, or a conversion failure.
    """
    import gzip

    from kerasopt.export.tflite import export_tflite

    check_int4_args(granularity, block_size, keep_float, max_drop, keep_as)
    if Path(path).suffix != ".tflite":
        raise ExportError(f"`path` must end in .tflite. Received: path={str(path)!r}")
    if (keep_float or max_drop is not None) and validation is None:
        raise ExportError("`keep_float` and `max_drop` choose layers by a measured sensitivity pass: give "
                          f"`validation=(x, y)`. Received: keep_float={keep_float!r}, max_drop={max_drop!r}")
    _quantizer()
    with tempfile.TemporaryDirectory() as folder:
        float_path = Path(folder) / "float.tflite"
        export_tflite(model, float_path)
        ops = quantizable_layers(model, float_path)
        if not ops:
            raise ExportError(f"Model {model.name!r} has no Dense, Conv1D or Conv2D layer whose weights int4 "
                              "can hold; export it with quantization 'dynamic' or 'int8' instead.")
        sensitivity = None
        precisions = {name: "int4" for name in ops}
        if validation is not None:
            sensitivity = layer_sensitivity(float_path, ops, *validation, task=task, granularity=granularity,
                                            block_size=block_size)
            precisions = choose_precisions(sensitivity, keep_float=keep_float, max_drop=max_drop, keep_as=keep_as)
        bits = {name: 4 if p == "int4" else 8 for name, p in precisions.items() if p != "float"}
        quantize_file(float_path, path, ops, bits, granularity=granularity, block_size=block_size)
    data = Path(path).read_bytes()
    info: dict[str, Any] = {
        "path": str(path), "bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "quantization": "int4", "io": "float32", "granularity": granularity, "precisions": precisions}
    if granularity == "block":
        info["block_size"] = block_size
    if sensitivity is not None:
        info["sensitivity"] = sensitivity
    return info
