"""Device and strategy selection from `runtime.device` and `runtime.strategy`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import Any

from kerasopt.distribute.cluster import WorkerRole, worker_role


class DeviceError(RuntimeError):
    """The hardware a recipe asks for is not available."""


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run executes.

    Attributes:
        device: "cpu", "gpu" or "tpu".
        strategy_name: "one_device", "mirrored", "tpu" or "multi_worker".
        strategy: The `tf.distribute.Strategy` whose scope builds and compiles the model.
        role: This process's place in a multi-worker cluster, or None.
    """

    device: str
    strategy_name: str
    strategy: Any
    role: WorkerRole | None = None

    @property
    def replicas(self) -> int:
        """The global replica count (all devices of all workers)."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files (always, outside multi-worker runs)."""
        return self.role is None or self.role.is_chief

    def describe(self, model: Any = None) -> dict[str, Any]:
        """The `runtime` entry of metrics.json.

        A multi-worker placement adds `workers` and, given the trained `model`,
        `weights_divergence`: the largest difference between one worker's weights and the
        workers' mean, summed over workers (0.0 when they trained in lockstep). Computing
        it is a collective: every worker must call this at the same point.
        """
        described = {"device": self.device, "strategy": self.strategy_name, "replicas": self.replicas}
        if self.role is not None:
            described["workers"] = self.role.num_workers
            if model is not None:
                from kerasopt.distribute.lockstep import weights_divergence

                described["weights_divergence"] = weights_divergence(self.strategy, model)
        return described

    def wait_for_workers(self) -> None:
        """Multi-worker: return once every worker has called this (a barrier); else at once.

        Workers that leave while the chief still exports would look to TensorFlow's
        coordination service like crashed tasks; this keeps them until the chief is done.
        """
        if self.role is not None:
            from kerasopt.distribute.lockstep import barrier

            barrier(self.strategy)

    def fit_callbacks(self, interruption: Callable[[int], BaseException] | None = None) -> list[Any]:
        """Callbacks every worker's `fit` needs under this placement: multi-worker runs stop
        all workers at one step on SIGINT or SIGTERM (:class:`~kerasopt.distribute.agreed_stop.AgreedStop`),
        raising `interruption(signal number)`."""
        if self.role is None:
            return []
        from kerasopt.distribute.agreed_stop import AgreedStop

        return [AgreedStop(self.strategy, interruption)]

    @contextlib.contextmanager
    def keras_fixes(self) -> Iterator[bool]:
        """The corrections Keras's `fit` needs under this strategy, as a context manager: under
        several replicas, the global batch's mean loss (partial batches included,
        :mod:`~kerasopt.distribute.global_batch_loss`); under multi-worker strategies, the
        :mod:`~kerasopt.distribute.keras_fixes`.

        Yields:
            Whether the multi-worker corrections were applied.
        """
        with contextlib.ExitStack() as stack:
            if self.replicas > 1:
                from kerasopt.distribute.global_batch_loss import global_batch_mean_loss

                stack.enter_context(global_batch_mean_loss())
            applied = False
            if self.strategy_name == "multi_worker":
                from kerasopt.distribute.keras_fixes import multi_worker_fit_fixes

                applied = stack.enter_context(multi_worker_fit_fixes())
            yield applied


_PLACEMENTS: dict[tuple[str, str, WorkerRole | None], Placement] = {}


def select_placement(device: str = "auto", strategy: str = "auto") -> Placement:
    """Choose the device and distribution strategy, once per process for each setting.

    The placement is made on the first call with a `(device, strategy)` pair (and, for
    "multi_worker", this process's cluster role) and returned again by later calls.
    TensorFlow numbers the collective operations of a `MirroredStrategy` per strategy
    object, so a second strategy over the same devices in one process (the next trial of
    an in-process sweep, the next run of a test, a second `select_placement` call) would
    reuse the first one's collective keys, and its first step would fail ("Shape mismatch
    in the collective instance ...").

    Args:
        device: "auto" (a GPU when TensorFlow sees one, else the CPU), "cpu", "gpu" or "tpu".
        strategy: "auto" (mirrored over several GPUs, else one device), "one_device",
            "mirrored", "tpu" or "multi_worker" (`tf.distribute.MultiWorkerMirroredStrategy`
            over the cluster that `TF_CONFIG` or SLURM describes; see
            :mod:`kerasopt.distribute.cluster`).

    Returns:
        The placement.

    Raises:
        DeviceError: When the asked-for hardware is absent, or the strategy doesn't fit the device.
        ClusterConfigError: For "multi_worker" without a cluster in `TF_CONFIG` or SLURM.
    """
    role = worker_role() if strategy == "multi_worker" else None  # before TensorFlow starts
    key = (device, strategy, role)
    if key not in _PLACEMENTS:
        _PLACEMENTS[key] = _new_placement(device, strategy, role)
    return _PLACEMENTS[key]


def _new_placement(device: str, strategy: str, role: WorkerRole | None) -> Placement:
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
    if role is not None:
        return Placement(kind, "multi_worker", _multi_worker_strategy(tf, role, len(gpus)), role)
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


def _multi_worker_strategy(tf: Any, role: WorkerRole, local_gpus: int) -> Any:
    """`MultiWorkerMirroredStrategy` over the cluster of `TF_CONFIG` or SLURM.

    It must be created before TensorFlow's runtime starts (before any tensor or device
    list), which `select_placement` ensures by creating it first.
    """
    resolver = slurm_cluster_resolver(local_gpus) if role.source == "slurm" else None
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as err:
        raise DeviceError(
            f"runtime.strategy: 'multi_worker' could not start ({err}). A multi-worker "
            "strategy must be created before TensorFlow runs anything in the process.") from None


def slurm_cluster_resolver(local_gpus: int) -> Any:
    """TensorFlow's `SlurmClusterResolver` for this SLURM task, also on CPU-only nodes.

    The resolver pairs each task of a node with that node's GPUs (and sets
    `CUDA_VISIBLE_DEVICES` accordingly); on a node without GPUs it would list no task at
    all, so there each task gets one notional device and no GPU assignment.

    Args:
        local_gpus: The GPUs TensorFlow sees on this node.

    Returns:
        The resolver (its cluster spec lists `<node>:8888`, `<node>:8889`... per task).
    """
    import tensorflow as tf

    options: dict[str, Any] = {}
    if not local_gpus:
        tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS", os.environ.get("SLURM_NTASKS", "1")))
        options = {"gpus_per_node": tasks, "gpus_per_task": 1, "auto_set_gpu": False}
    return tf.distribute.cluster_resolver.SlurmClusterResolver(**options)
