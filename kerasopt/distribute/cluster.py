"""`ClusterSpec`-free facts about this process's place in a multi-worker run, from the environment.

A multi-worker run (`runtime.strategy: multi_worker`) learns its cluster from one of two
places, in this order:

1. `TF_CONFIG`, the JSON TensorFlow's `TFConfigClusterResolver` reads:
   `{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}`
   (`kerasopt run --workers N` sets it for each local worker).
2. SLURM: inside `srun`, `SLURM_PROCID` and `SLURM_STEP_NUM_TASKS` (or `SLURM_NTASKS`) give
   this task's rank and the task count; TensorFlow's `SlurmClusterResolver` resolves the
   node names.

Reading them needs no TensorFlow, so the runner knows whether this process is the chief
(the one writer of the run directory) before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

TF_CONFIG = "TF_CONFIG"
SLURM_VARIABLES = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")


class ClusterConfigError(ValueError):
    """The environment does not describe a multi-worker cluster, or describes it wrongly."""


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process in a multi-worker cluster.

    Attributes:
        source: `"tf_config"` or `"slurm"`: where the cluster was described.
        index: This worker's position among all workers (the chief is 0).
        num_workers: How many worker processes train together.
    """

    source: str
    index: int
    num_workers: int

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run directory (worker 0, or the `chief` task)."""
        return self.index == 0


def has_cluster(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `TF_CONFIG` or SLURM variables describe a cluster.

    Example:
        >>> has_cluster({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}'})
        True
        >>> has_cluster({})
        False
    """
    environ = os.environ if environ is None else environ
    return bool(environ.get(TF_CONFIG)) or _slurm_tasks(environ) is not None


def worker_role(environ: Mapping[str, str] | None = None) -> WorkerRole:
    """This process's role, from `TF_CONFIG` (first) or the SLURM variables.

    Args:
        environ: The environment to read. Defaults to `None` (`os.environ`).

    Returns:
        The role.

    Raises:
        ClusterConfigError: When neither describes a cluster, or `TF_CONFIG` is malformed
            (not JSON, no worker list, an unknown task type, an index out of range).

    Example:
        >>> config = {"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
        ...           "task": {"type": "worker", "index": 1}}
        >>> role = worker_role({"TF_CONFIG": json.dumps(config)})
        >>> role.index, role.num_workers, role.is_chief
        (1, 2, False)
    """
    environ = os.environ if environ is None else environ
    if environ.get(TF_CONFIG):
        return _tf_config_role(environ[TF_CONFIG])
    tasks = _slurm_tasks(environ)
    if tasks is not None:
        rank = _integer(environ, "SLURM_PROCID")
        if not 0 <= rank < tasks:
            raise ClusterConfigError(f"SLURM_PROCID={rank} is not in [0, {tasks}) (the task count).")
        return WorkerRole("slurm", rank, tasks)
    raise ClusterConfigError(
        "runtime.strategy: 'multi_worker' needs a cluster, and none is described: TF_CONFIG is "
        "not set and this is not a SLURM task (no SLURM_PROCID). Start local workers with "
        "`kerasopt run RECIPE --workers N`, set TF_CONFIG on every machine, run under `srun`, "
        "or choose another runtime.strategy (auto, one_device, mirrored, tpu).")


def _tf_config_role(text: str) -> WorkerRole:
    try:
        config = json.loads(text)
    except ValueError as err:
        raise ClusterConfigError(f"TF_CONFIG is not valid JSON ({err}). Received: TF_CONFIG={text!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ClusterConfigError(
            "TF_CONFIG must hold `cluster` and `task` mappings, e.g. "
            '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", '
            f'"index": 0}}. Received: TF_CONFIG={text!r}')
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise ClusterConfigError(
            f"TF_CONFIG: MultiWorkerMirroredStrategy takes `chief` and `worker` tasks only. "
            f"Received cluster jobs: {', '.join(unknown)}")
    chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    if len(chiefs) > 1 or not chiefs + workers:
        raise ClusterConfigError(f"TF_CONFIG: the cluster needs workers and at most one chief. "
                                 f"Received: chief={chiefs}, worker={workers}")
    kind, index = task.get("type"), task.get("index", 0)
    size = {"chief": len(chiefs), "worker": len(workers)}.get(kind)
    if size is None or not isinstance(index, int) or not 0 <= index < size:
        raise ClusterConfigError(
            f"TF_CONFIG: task must be a `chief` or `worker` listed in the cluster. Received: "
            f"task={task}, chief={chiefs}, worker={workers}")
    position = index if kind == "chief" else index + len(chiefs)
    return WorkerRole("tf_config", position, len(chiefs) + len(workers))


def _slurm_tasks(environ: Mapping[str, str]) -> int | None:
    """The SLURM task count, or None outside a SLURM task."""
    if "SLURM_PROCID" not in environ:
        return None
    name = "SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in environ else "SLURM_NTASKS"
    if name not in environ:
        return None
    tasks = _integer(environ, name)
    if tasks < 1:
        raise ClusterConfigError(f"{name} must be >= 1. Received: {name}={tasks}")
    return tasks


def _integer(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise ClusterConfigError(f"{name} must be an integer. Received: {name}={environ[name]!r}") from None
