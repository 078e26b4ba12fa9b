"""Placement: the multi-worker parts that one process can check."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from kerasopt import _keras_compat as compat
from kerasopt.distribute.cluster import WorkerRole
from kerasopt.distribute.device import Placement, slurm_cluster_resolver


def test_slurm_resolver_lists_every_task_on_cpu_only_nodes(monkeypatch):
    # Three tasks: two on node1, one on node2; this is task 1 (node1's second).
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "3")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node[1-2]")
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "2,1")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    resolver = slurm_cluster_resolver(local_gpus=0)
    assert resolver.cluster_spec().as_dict() == {"worker": ["node1:8888", "node1:8889", "node2:8888"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # no GPU assignment on CPU nodes


def test_multi_worker_placement_describes_workers_and_lockstep():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    placement = Placement("cpu", "multi_worker", tf.distribute.get_strategy(), WorkerRole("tf_config", 1, 4))
    assert not placement.is_chief
    assert placement.describe() == {"device": "cpu", "strategy": "multi_worker", "replicas": 1, "workers": 4}
    assert placement.describe(model)["weights_divergence"] == 0.0
    placement.wait_for_workers()  # one replica: returns at once


def test_only_multi_worker_placements_patch_keras():
    before = compat.fit_internals()
    plain = Placement("cpu", "one_device", tf.distribute.get_strategy())
    assert plain.is_chief
    with plain.keras_fixes() as applied:
        assert applied is False and compat.fit_internals() == before
    multi = Placement("cpu", "multi_worker", tf.distribute.get_strategy(), WorkerRole("slurm", 0, 2))
    with multi.keras_fixes() as applied:
        assert applied is True and compat.fit_internals() != before
    assert compat.fit_internals() == before
