"""Device and strategy selection, multi-worker training and its launcher.

Names load on first use, so that `kerasopt run --workers N` (whose launching process only
starts and waits for the workers) imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.distribute.cluster import ClusterConfigError as ClusterConfigError
    from kerasopt.distribute.cluster import WorkerRole as WorkerRole
    from kerasopt.distribute.cluster import worker_role as worker_role
    from kerasopt.distribute.device import DeviceError as DeviceError
    from kerasopt.distribute.device import Placement as Placement
    from kerasopt.distribute.device import select_placement as select_placement
    from kerasopt.distribute.keras_fixes import multi_worker_fit_fixes as multi_worker_fit_fixes
    from kerasopt.distribute.launch import launch_run as launch_run
    from kerasopt.distribute.local_predict import predict_locally as predict_locally
    from kerasopt.distribute.local_workers import LocalWorkers as LocalWorkers
    from kerasopt.distribute.lockstep import barrier as barrier
    from kerasopt.distribute.lockstep import weights_divergence as weights_divergence

_WHERE = {
    "ClusterConfigError": "cluster", "WorkerRole": "cluster", "worker_role": "cluster",
    "DeviceError": "device", "Placement": "device", "select_placement": "device",
    "multi_worker_fit_fixes": "keras_fixes", "launch_run": "launch", "predict_locally": "local_predict",
    "LocalWorkers": "local_workers", "barrier": "lockstep", "weights_divergence": "lockstep",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasopt.distribute' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kerasopt.distribute.{_WHERE[name]}"), name)
