"""Export to an ONNX file through Keras's own exporter (tf2onnx under the TensorFlow backend)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

from kerasopt.atomic import atomic_target
from kerasopt.compression.layers import walk
from kerasopt.export.errors import ExportError
from kerasopt.export.onnx_packages import INSTALL_HINT, missing_packages


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    """Silence tf2onnx's log lines and the numpy-2 patch warning Keras triggers; errors are found in the file."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*np\.object", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _input_specs(model: keras.Model) -> list[Any]:
    """A `tf.TensorSpec` per model input (batch size left open)."""
    import tensorflow as tf

    return [tf.TensorSpec(shape=(None, *tuple(t.shape)[1:]), dtype=t.dtype, name=t.name.split(":")[0])
            for t in model.inputs]


def _convert(model: keras.Model, opset: int | None) -> Any:
    """The ONNX model proto of `model` in inference mode, its captured constants folded in.

    This is what Keras's `model.export(path, format="onnx")` does under TensorFlow
    (trace the model with `training=False`, `tf2onnx.convert.from_function`), plus one
    repair: tf2onnx turns every non-variable tensor the traced function captures into a
    graph *input* (it takes `concrete_function.inputs`, which lists the captures), so a
    model holding plain tensors (an adapted `Normalization` keeps its mean and variance
    as tensors) would need them fed at inference. Keras's own export gives no access to
    the traced function, so it is traced here and those inputs become initializers
    holding the captured values.
    """
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx  # Keras's numpy-2 fix for tf2onnx
    from onnx import numpy_helper

    specs = _input_specs(model)
    single = len(specs) == 1
    function = tf.function(lambda *inputs: model(inputs[0] if single else list(inputs), training=False),
                           input_signature=specs, autograph=False)
    concrete = function.get_concrete_function()
    patch_tf2onnx()
    proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=opset)
    captured = {placeholder.name: value for placeholder, value in
                zip(concrete.inputs[len(specs):], concrete.captured_inputs, strict=True)
                if placeholder.dtype != tf.resource}
    graph = proto.graph
    for graph_input in [i for i in graph.input if i.name in captured]:
        graph.initializer.append(numpy_helper.from_array(captured[graph_input.name].numpy(), graph_input.name))
        graph.input.remove(graph_input)
    return proto


def unsupported_nodes(proto: Any) -> list[tuple[str, str]]:
    """`(node name, op type)` of every node of an ONNX model whose op no ONNX opset defines.

    tf2onnx keeps a TensorFlow op it cannot convert as a node of that name (e.g. `Svd`),
    which no ONNX runtime can run; the file converts without an error.

    Args:
        proto: The `onnx.ModelProto` (e.g. `onnx.load(path)`).

    Returns:
        The offending nodes, in graph order (nested graphs included).
    """
    import onnx

    found: list[tuple[str, str]] = []

    def visit(graph: Any) -> None:
        for node in graph.node:
            if not onnx.defs.has(node.op_type, node.domain):
                found.append((node.name, node.op_type))
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    visit(attribute.g)

    visit(proto.graph)
    return found


def _describe(nodes: list[tuple[str, str]], model: keras.Model) -> str:
    """One line naming the TensorFlow ops tf2onnx could not convert, grouped by the layer using them."""
    layers = {name: type(layer).__name__ for name, layer in walk(model)}
    by_layer: dict[str, list[str]] = {}
    for node, op in nodes:
        segments = [re.sub(r"_\d+$", "", s) if s not in layers else s for s in node.split("/")[:-1]]
        names = [s for s in segments if s in layers]
        where = f"layer {names[-1]} ({layers[names[-1]]})" if names else f"node {node}"
        ops = by_layer.setdefault(where, [])
        if op not in ops:
            ops.append(op)
    found = "; ".join(f"{', '.join(ops)} in {where}" for where, ops in by_layer.items())
    return (f"ONNX export failed: tf2onnx cannot convert the TensorFlow ops {found}; replace that layer, "
            "or export a SavedModel or TFLite file instead.")


def export_onnx(model: keras.Model, path: str | os.PathLike[str], *, opset: int | None = None) -> dict[str, Any]:
    """Convert `model` to an `.onnx` file that onnxruntime runs.

    Follows Keras's own `model.export(path, format="onnx")` under TensorFlow (trace the
    model in inference mode, convert the function with tf2onnx), with the captured-tensor
    repair described in :func:`_convert`. A TensorFlow op
    that tf2onnx cannot convert fails with an ExportError naming the op and its layer
    (tf2onnx itself would write a file no runtime can load). The file is written under a
    temporary name and renamed, so a failed export leaves no file under `path`. Verify it
    with :func:`kerasopt.export.onnx_verify.verify_onnx`.

    Args:
        model: The model to convert (built; TensorFlow backend).
        path: The destination; must end in `.onnx`. Parent directories are created.
        opset: The ONNX opset version. Defaults to `None` (tf2onnx's default, 15 with tf2onnx 1.17).

    Returns:
        `{"path", "bytes", "opset"}`; `opset` is the default-domain opset of the file.

    Raises:
        ExportError: For a wrong suffix, missing packages
            (:data:`kerasopt.export.onnx_packages.PACKAGES`) or a model that does not convert.

    Example:
        >>> import tempfile
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> export_onnx(model, f"{tempfile.mkdtemp()}/m.onnx")["bytes"] > 0
        True
    """
    if Path(path).suffix != ".onnx":
        raise ExportError(f"`path` must end in .onnx. Received: path={str(path)!r}")
    missing = missing_packages()
    if missing:
        raise ExportError(f"ONNX export needs {', '.join(missing)}: {INSTALL_HINT}")
    if not model.built or not getattr(model, "inputs", None):
        raise ExportError("`model` must be a built model with known inputs (a Sequential or functional model "
                          "created with keras.Input, or a subclassed model called once).")
    import onnx

    with atomic_target(path) as tmp:
        try:
            with _quiet_tf2onnx():
                proto = _convert(model, opset)
        except Exception as err:  # tf2onnx raises plain exceptions of many types
            first = (str(err).strip().splitlines() or [""])[0][:300]
            raise ExportError(f"ONNX export failed: {type(err).__name__}: {first}") from err
        bad = unsupported_nodes(proto)
        if bad:
            raise ExportError(_describe(bad, model))
        onnx.save(proto, str(tmp))
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    return {"path": str(path), "bytes": Path(path).stat().st_size, "opset": versions[0] if versions else None}
