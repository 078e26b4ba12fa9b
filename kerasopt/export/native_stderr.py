"""Drop known chatter that TensorFlow's and LiteRT's C++ code writes to standard error."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

CONVERTER_NOTICE = "fully_quantize: "
"""The start of the line the TFLite converter's C++ quantizer prints whenever it calibrates
(`fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, ...`), whatever
`TF_CPP_MIN_LOG_LEVEL` says: it does not go through TensorFlow's logging."""

DELEGATE_NOTICE = "Created TensorFlow Lite XNNPACK delegate"
"""LiteRT's INFO line when an interpreter allocates its tensors."""


@contextlib.contextmanager
def dropped_stderr_lines(*notices: str) -> Iterator[None]:
    """Drop the lines holding one of `notices` from what is written to file descriptor 2 meanwhile.

    Native code writes to fd 2 directly, past `sys.stderr`, so the descriptor itself is
    pointed at a temporary file for the duration; on exit every other line (a real
    warning or error, Python's own output included) is written to standard error, in
    order, also when the block raises. Lines therefore appear when the block ends, not
    as they are written. Without a usable fd 2 (embedded interpreters) nothing is changed.

    Args:
        *notices: Substrings; a line holding any of them is dropped.

    Example:
        >>> with dropped_stderr_lines(CONVERTER_NOTICE):
        ...     _ = os.write(2, b"fully_quantize: 0, inference_type: 6\\n")
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()  # what Python buffered meanwhile goes into the capture, in order
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not any(n in line for n in notices)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
