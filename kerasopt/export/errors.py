"""The error raised when a model cannot be exported or verified."""

from __future__ import annotations


class ExportError(ValueError):
    """An export that kerasopt cannot write or verify.

    Raised by the functions of :mod:`kerasopt.export` for a wrong file suffix, an
    unknown quantization mode, missing representative samples for int8, a model
    that needs TensorFlow (Flex/select) or custom ops that the TFLite builtin op set
    lacks (the message names those ops), or a `.tflite` file that the LiteRT
    interpreter cannot run. No file is left under the final name when it is raised.

    Example:
        ```python
        try:
            export_tflite(model, "model.tflite", quantization="int8")
        except ExportError as err:
            print(err)  # int8 needs representative_data
        ```
    """
