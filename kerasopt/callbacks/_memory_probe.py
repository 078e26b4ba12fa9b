"""Memory probes of `BatchSizeFinder`: process RSS on CPU, TensorFlow peak memory on GPU."""

from __future__ import annotations

import os
import re
import resource
import sys

import keras


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return (MemoryError, tf.errors.ResourceExhaustedError)
    return (MemoryError,)


def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        match = re.search(rf"{field}:\s+(\d+) kB", status.read())
    return int(match.group(1)) * 1024 if match else 0


def reset_rss_peak() -> bool:
    """Reset the peak RSS (`VmHWM`, Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class MaxRssProbe:
    """Portable CPU probe (lifetime peak RSS), and the interface of the other probes.

    `current()` is the use now, `reset_peak()` starts a new peak window (when the
    platform can), `peak()` the highest use since.
    """

    def current(self) -> int:
        return self.peak()

    def reset_peak(self) -> None:
        return None

    def peak(self) -> int:
        # ru_maxrss is in kB on Linux, in bytes on macOS; it never resets.
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class LinuxRssProbe(MaxRssProbe):
    def current(self) -> int:
        return _rss_bytes("VmRSS")

    def reset_peak(self) -> None:
        reset_rss_peak()

    def peak(self) -> int:
        return _rss_bytes("VmHWM")


class GpuProbe(MaxRssProbe):
    def __init__(self, device: str) -> None:
        self.device = device

    def current(self) -> int:
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info(self.device)["current"])

    def reset_peak(self) -> None:
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats(self.device)

    def peak(self) -> int:
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info(self.device)["peak"])


def default_cap() -> int | None:
    """80% of the available physical memory on CPU; None (out-of-memory only) on GPU."""
    if gpu_device():
        return None
    try:
        with open("/proc/meminfo") as meminfo:
            match = re.search(r"MemAvailable:\s+(\d+) kB", meminfo.read())
        available = int(match.group(1)) * 1024 if match else 0
    except OSError:
        available = 0
    if not available:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(0.8 * available)


def gpu_device() -> str | None:
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return "GPU:0" if tf.config.list_logical_devices("GPU") else None
