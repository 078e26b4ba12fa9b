"""Start TensorFlow without its start-up noise on the terminal.

Importing TensorFlow on a CPU-only machine writes lines such as
"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
"I0000 ... oneDNN custom operations are on", "Could not find cuda drivers on your machine"
and, when the first device list is taken, "E0000 ... failed call to cuInit: CUDA error".
They come from C++ code writing straight to file descriptor 2 before (or regardless of)
`TF_CPP_MIN_LOG_LEVEL`, so Python cannot filter them. :func:`start_tensorflow_quietly`
points descriptor 2 at a temporary file while TensorFlow and Keras load and list the
physical devices, then restores it; the captured text is shown only on request (`--debug`)
or when the start-up fails. Numerics are not touched (oneDNN stays as TensorFlow sets it).
"""

from __future__ import annotations

import os
import sys
import tempfile


def start_tensorflow_quietly(*, show: bool = False) -> str:
    """Import TensorFlow and Keras and list the physical devices, holding back stderr meanwhile.

    Args:
        show: Write the captured start-up text to stderr afterwards (the CLI's `--debug`).
            Defaults to `False`.

    Returns:
        The captured text.

    Raises:
        Exception: Whatever the import raised; the captured text is written to stderr first.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401 - loading is the point
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA's cuInit complaint comes here, not at import
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            if (show or failed) and text:
                sys.stderr.write(text)
                sys.stderr.flush()
    return text
