"""The packages ONNX export needs, found without importing them (nor TensorFlow)."""

from __future__ import annotations

import importlib.util

PACKAGES = ("onnx", "onnxruntime", "tf2onnx")
"""What ONNX export and verification import; `pip install 'kerasopt[onnx]'` installs them."""

INSTALL_HINT = "pip install 'kerasopt[onnx]' (onnx, onnxruntime, tf2onnx)"


def missing_packages() -> list[str]:
    """The packages of :data:`PACKAGES` that are not installed.

    Returns:
        Their names, in the order of :data:`PACKAGES`; empty when all are installed.
    """
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]
