"""Whether `quantization: int4`'s package is installed, asked without importing it (validate stays quick)."""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'kerasopt[lowbit]' (ai-edge-quantizer)"


def missing() -> bool:
    """Whether ai-edge-quantizer is missing."""
    return importlib.util.find_spec("ai_edge_quantizer") is None
