"""Exports: .keras, SavedModel, TFLite (verified with the LiteRT interpreter) and ONNX (onnxruntime).

Names load on first use: importing the package imports neither TensorFlow nor Keras.
Every file is written through :func:`kerasopt.atomic.atomic_target`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.export.errors import ExportError as ExportError
    from kerasopt.export.keras_format import export_keras as export_keras
    from kerasopt.export.onnx import export_onnx as export_onnx
    from kerasopt.export.onnx_verify import verify_onnx as verify_onnx
    from kerasopt.export.saved_model import export_saved_model as export_saved_model
    from kerasopt.export.tflite import export_tflite as export_tflite
    from kerasopt.export.tflite_verify import verify_tflite as verify_tflite

_WHERE = {
    "ExportError": "errors", "export_keras": "keras_format", "export_saved_model": "saved_model",
    "export_tflite": "tflite", "verify_tflite": "tflite_verify",
    "export_onnx": "onnx", "verify_onnx": "onnx_verify",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasopt.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kerasopt.export.{_WHERE[name]}"), name)
