"""Worker roles from TF_CONFIG and SLURM variables (no TensorFlow needed)."""

from __future__ import annotations

import json

import pytest

from kerasopt.distribute.cluster import ClusterConfigError, has_cluster, worker_role


def _tf_config(cluster: dict, task: dict) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}


@pytest.mark.parametrize(("index", "chief"), [(0, True), (1, False), (2, False)])
def test_workers_only_worker_zero_is_chief(index, chief):
    role = worker_role(_tf_config({"worker": ["a:1", "b:1", "c:1"]}, {"type": "worker", "index": index}))
    assert (role.source, role.index, role.num_workers, role.is_chief) == ("tf_config", index, 3, chief)


def test_a_chief_task_comes_first_and_workers_follow():
    cluster = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    assert worker_role(_tf_config(cluster, {"type": "chief", "index": 0})).is_chief
    role = worker_role(_tf_config(cluster, {"type": "worker", "index": 0}))
    assert (role.index, role.num_workers, role.is_chief) == (1, 3, False)


@pytest.mark.parametrize(("environ", "fragment"), [
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid JSON"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}}'}, "must hold `cluster` and `task`"),
    (_tf_config({"worker": ["a:1"], "ps": ["p:1"]}, {"type": "worker", "index": 0}), "Received cluster jobs: ps"),
    (_tf_config({"worker": ["a:1"]}, {"type": "worker", "index": 1}), "task must be a `chief` or `worker`"),
    (_tf_config({"worker": ["a:1"]}, {"type": "evaluator", "index": 0}), "task must be a `chief` or `worker`"),
    (_tf_config({"chief": ["a:1", "b:1"]}, {"type": "chief", "index": 0}), "at most one chief"),
    ({"SLURM_PROCID": "4", "SLURM_NTASKS": "4"}, "SLURM_PROCID=4 is not in [0, 4)"),
    ({"SLURM_PROCID": "x", "SLURM_NTASKS": "4"}, "SLURM_PROCID must be an integer. Received: SLURM_PROCID='x'"),
    ({}, "needs a cluster, and none is described"),
])
def test_bad_cluster_descriptions_say_what_was_received(environ, fragment):
    with pytest.raises(ClusterConfigError) as info:
        worker_role(environ)
    assert fragment in str(info.value)


def test_slurm_rank_and_step_task_count():
    environ = {"SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "8"}
    role = worker_role(environ)
    assert (role.source, role.index, role.num_workers, role.is_chief) == ("slurm", 1, 2, False)
    assert worker_role({"SLURM_PROCID": "0", "SLURM_NTASKS": "3"}).is_chief


def test_tf_config_wins_over_slurm_and_a_lone_procid_is_no_cluster():
    environ = {**_tf_config({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}),
               "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    assert worker_role(environ).source == "tf_config"
    assert not has_cluster({"SLURM_PROCID": "0"})
    assert has_cluster({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"})


def test_package_names_load_lazily_and_the_launcher_needs_no_tensorflow():
    import subprocess
    import sys

    import kerasopt.distribute as distribute

    assert distribute.LocalWorkers.__module__ == "kerasopt.distribute.local_workers"
    assert all(getattr(distribute, name) is not None for name in distribute.__all__)
    script = ("import sys, kerasopt.distribute.launch, kerasopt.distribute as d; d.worker_role; "
              "print(sorted({'keras', 'tensorflow'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
