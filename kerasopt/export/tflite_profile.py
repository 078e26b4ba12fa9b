"""Latency, memory and ops of `.tflite` files, as a device's interpreter sees them."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.export.errors import ExportError
from kerasopt.export.native_stderr import DELEGATE_NOTICE, dropped_stderr_lines
from kerasopt.export.tflite_verify import to_tensor

EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")
"""Ops converting between float and integer at a file's edges; never counted as float ops."""


def _interpreter(path: str | os.PathLike[str], *, delegates: bool) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with dropped_stderr_lines(DELEGATE_NOTICE):
        interpreter = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver)
        detail = interpreter.get_input_details()[0]
        shape = [1, *(int(d) for d in detail["shape_signature"][1:])]
        interpreter.resize_tensor_input(detail["index"], shape)
        interpreter.allocate_tensors()
    return interpreter


def describe_tflite(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ops of a `.tflite` file and the memory its tensors take at batch 1.

    Read from an interpreter without default delegates (XNNPACK would replace the ops by
    `DELEGATE` nodes), so the ops are the file's own.

    Args:
        path: The `.tflite` file (one input).

    Returns:
        `{"ops", "float_ops", "activation_bytes", "constant_bytes"}`: `ops` maps each
        op name to its count; `float_ops` names, sorted, the ops other than
        QUANTIZE/DEQUANTIZE with a floating-point output (empty for a file that runs
        entirely in integers; with float I/O only the edge ops convert);
        `activation_bytes` sums the buffer sizes (from `get_tensor_details`) of the
        input, every op output and the kernels' scratch tensors (e.g. im2col) at batch
        1: an upper bound of the interpreter's tensor arena, which reuses buffers whose
        lifetimes do not overlap; `constant_bytes` sums the op inputs no op produces
        (weights, biases, shapes), read from the file.
    """
    interpreter = _interpreter(path, delegates=False)
    ops = interpreter._get_ops_details()  # noqa: SLF001 - LiteRT's only op listing in Python
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    produced = {int(i) for op in ops for i in op["outputs"]}
    produced |= {d["index"] for d in interpreter.get_input_details()}
    constants = {int(i) for op in ops for i in op["inputs"] if int(i) >= 0} - produced

    def size(detail: dict[str, Any]) -> int:
        return int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize

    float_ops = sorted({op["op_name"] for op in ops if op["op_name"] not in EDGE_OPS and any(
        int(i) in tensors and np.dtype(tensors[int(i)]["dtype"]).kind == "f" for i in op["outputs"])})
    return {"ops": dict(sorted(Counter(op["op_name"] for op in ops).items())), "float_ops": float_ops,
            "activation_bytes": sum(size(d) for i, d in tensors.items() if i not in constants),
            "constant_bytes": sum(size(d) for i, d in tensors.items() if i in constants)}


def time_tflite(paths: dict[str, str | os.PathLike[str]], sample: np.ndarray, *,
                max_seconds: float = 1.0, invokes_per_round: int = 20, max_rounds: int = 15) -> dict[str, float]:
    """Median single-thread batch-1 `invoke` time of each file, in microseconds.

    The files run in the same process in interleaved rounds (`invokes_per_round`
    invokes of each file in turn, after a warm-up round), so load on a busy host
    weighs on all of them alike and their ratios are comparable; at least 3 rounds,
    at most `max_rounds`, and no new round once `max_seconds` have passed. Each file
    runs with LiteRT's default delegates (XNNPACK on CPU) and gets `sample`
    quantized as its input declares.

    Args:
        paths: The files by name.
        sample: One input sample (leading batch axis of 1).
        max_seconds: Time after which no round starts. Defaults to `1.0`.
        invokes_per_round: Invokes of each file per round. Defaults to `20`.
        max_rounds: Rounds at most. Defaults to `15`.

    Returns:
        The median invoke time of each file, by name.
    """
    runners = {}
    for name, path in paths.items():
        interpreter = _interpreter(path, delegates=True)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], to_tensor(np.asarray(sample, dtype="float32")[:1], detail))
        for _ in range(invokes_per_round):  # warm-up: first invokes prepare kernels
            interpreter.invoke()
        runners[name] = interpreter
    times: dict[str, list[int]] = {name: [] for name in runners}
    start = time.perf_counter()
    for round_index in range(max_rounds):
        if round_index >= 3 and time.perf_counter() - start > max_seconds:
            break
        for name, interpreter in runners.items():
            for _ in range(invokes_per_round):
                begin = time.perf_counter_ns()
                interpreter.invoke()
                times[name].append(time.perf_counter_ns() - begin)
    return {name: float(np.median(values)) / 1000.0 for name, values in times.items()}


def profile_tflite(paths: dict[str, str | os.PathLike[str]], sample: np.ndarray, *,
                   reference: str | None = None, max_seconds: float = 1.0) -> dict[str, dict[str, Any]]:
    """Latency, memory and ops of each file: :func:`time_tflite` plus :func:`describe_tflite`.

    Args:
        paths: The files by name, e.g. `{"tflite": "model.tflite", "tflite_float": ...}`.
        sample: One input sample (leading batch axis of 1), e.g. `x_test[:1]`.
        reference: The name of the file to compare with (the float file); when it is in
            `paths`, every other file gets `speedup`: the reference's median latency
            divided by its own. Defaults to `None`.
        max_seconds: The timing budget, see :func:`time_tflite`. Defaults to `1.0`.

    Returns:
        For each name, `{"latency_us", "activation_bytes", "constant_bytes", "ops",
        "float_ops"}` and, against the reference, `"speedup"`.

    Raises:
        ExportError: If a file is missing.

    Example:
        ```python
        profiles = profile_tflite({"tflite": "model.tflite", "tflite_float": "model_float.tflite"},
                                  x_test[:1], reference="tflite_float")
        profiles["tflite"]["speedup"]  # e.g. 3.3
        ```
    """
    missing = [str(p) for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise ExportError(f"`paths` must be .tflite files. Not files: {', '.join(missing)}")
    latencies = time_tflite(paths, sample, max_seconds=max_seconds)
    profiles = {name: {"latency_us": latencies[name], **describe_tflite(path)} for name, path in paths.items()}
    if reference in latencies:
        for name, profile in profiles.items():
            if name != reference:
                profile["speedup"] = latencies[reference] / latencies[name]
    return profiles
