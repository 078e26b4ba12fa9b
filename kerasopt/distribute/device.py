"""Device and strategy selection from `runtime.device` and `runtime.strategy`."""

from __future__ import annotations

import dataclasses
from typing import Any


class DeviceError(RuntimeError):
    """The hardware a recipe asks for is not available."""


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run executes.

    Attributes:
        device: "cpu", "gpu" or "tpu".
        strategy_name: "one_device", "mirrored" or "tpu".
        strategy: The `tf.distribute.Strategy` whose scope builds and compiles the model.
    """

    device: str
    strategy_name: str
    strategy: Any

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def describe(self) -> dict[str, Any]:
        """The `runtime` entry of metrics.json."""
        return {"device": self.device, "strategy": self.strategy_name, "replicas": self.replicas}


def select_placement(device: str = "auto", strategy: str = "auto") -> Placement:
    """Choose the device and distribution strategy.

    Args:
        device: "auto" (a GPU when TensorFlow sees one, else the CPU), "cpu", "gpu" or "tpu".
        strategy: "auto" (mirrored over several GPUs, else one device), "one_device",
            "mirrored" or "tpu".

    Returns:
        The placement.

    Raises:
        DeviceError: When the asked-for hardware is absent, or the strategy doesn't fit the device.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "tpu" or strategy == "tpu":
        return _tpu_placement(tf, device, strategy)
    if device == "gpu" and not gpus:
        raise DeviceError(
            "runtime.device: 'gpu' was requested, but TensorFlow sees no GPU on this machine "
            "(no CUDA device or driver). Use runtime.device=auto or runtime.device=cpu.")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    kind = "gpu" if gpus else "cpu"
    names = [f"/{kind}:{i}" for i in range(len(gpus))] if gpus else ["/cpu:0"]
    logical_cpus = tf.config.list_logical_devices("CPU")
    if strategy == "mirrored":
        devices = names if kind == "gpu" else [d.name for d in logical_cpus]
        return Placement(kind, "mirrored", tf.distribute.MirroredStrategy(devices=devices))
    if strategy == "auto" and len(names) > 1:
        return Placement(kind, "mirrored", tf.distribute.MirroredStrategy(devices=names))
    # One device: TensorFlow's default strategy places work there with no distribution overhead
    # (OneDeviceStrategy adds a multi-device iterator to every step).
    return Placement(kind, "one_device", tf.distribute.get_strategy())


def _tpu_placement(tf: Any, device: str, strategy: str) -> Placement:
    if device not in ("tpu", "auto") or strategy not in ("tpu", "auto"):
        raise DeviceError(
            f"runtime: device={device!r} with strategy={strategy!r} cannot work; a TPU needs "
            "device: tpu and strategy: tpu (or auto).")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise DeviceError(
            f"runtime.device: 'tpu' was requested, but no TPU could be reached ({err}). "
            "Use runtime.device=auto or runtime.device=cpu.") from None
    return Placement("tpu", "tpu", tf.distribute.TPUStrategy(resolver))
