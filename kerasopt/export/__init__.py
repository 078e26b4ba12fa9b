"""Exports: .keras, SavedModel and TFLite (verified with the LiteRT interpreter)."""

from kerasopt.export.errors import ExportError as ExportError
from kerasopt.export.keras_format import export_keras as export_keras
from kerasopt.export.saved_model import export_saved_model as export_saved_model
from kerasopt.export.tflite import export_tflite as export_tflite
from kerasopt.export.tflite_verify import verify_tflite as verify_tflite

__all__ = ["ExportError", "export_keras", "export_saved_model", "export_tflite", "verify_tflite"]
