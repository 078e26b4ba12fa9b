"""Every kerasopt component under `MirroredStrategy` over two logical CPUs gives the one-device numbers.

The checks run in one subprocess (`tests/distribute/_mirrored_conformance.py`, see its
docstring), because the logical devices must be configured before TensorFlow starts; the
tests here read its results. Optimizers are enumerated from the registry, so a new one is
checked (and must match) without an edit here; so are Keras's shared optimizer arguments on
a kerasopt optimizer (`VARIANT_CHECKS`). `REFUSED` lists the checks that must instead refuse
with a message naming the strategy: gradient accumulation, which Keras 3 cannot run under
a strategy with several replicas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.distribute._component_checks import OTHER_CHECKS
from tests.distribute._mirrored_conformance import TOLERANCE, TOLERANCES
from tests.optimizers.test_conformance import REGISTERED

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OPTIMIZER_CHECKS = [f"optimizer:{names[0]}" for names in REGISTERED.values()]
VARIANT_CHECKS = ["variant:clipnorm", "variant:clipvalue", "variant:global_clipnorm+accumulation",
                  "variant:weight_decay+ema", "variant:mixed_float16 loss scaling"]
# Check name -> fragments the refusal message must hold (besides "MirroredStrategy").
REFUSED: dict[str, list[str]] = {
    "variant:global_clipnorm+accumulation": [
        "LazyAdam: `gradient_accumulation_steps` does not work under MirroredStrategy (2 replicas)",
        "Raise the batch size instead", "Received: gradient_accumulation_steps=2"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("mirrored")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    parts = 2  # two processes side by side, each with every other check
    processes = []
    for part in range(parts):
        with open(folder / f"part{part}.err", "w") as stderr:  # the child keeps its own descriptor
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.distribute._mirrored_conformance", str(folder / f"part{part}.json"),
                 str(part), str(parts)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr))
    merged: dict[str, Any] = {}
    for part, process in enumerate(processes):
        assert process.wait(timeout=1200) == 0, (folder / f"part{part}.err").read_text()[-3000:]
        merged.update(json.loads((folder / f"part{part}.json").read_text()))
    return merged


def test_every_registered_optimizer_and_component_was_checked(results: dict[str, Any]) -> None:
    assert len(OPTIMIZER_CHECKS) >= 14  # the registry's optimizers, as of this suite's writing
    assert set(OPTIMIZER_CHECKS) | set(VARIANT_CHECKS) | set(OTHER_CHECKS) <= set(results)


@pytest.mark.parametrize("name", OPTIMIZER_CHECKS + VARIANT_CHECKS + list(OTHER_CHECKS))
def test_mirrored_matches_one_device(results: dict[str, Any], name: str) -> None:
    result = results[name]
    if name in REFUSED:
        assert result["status"] == "refused", result
        for fragment in REFUSED[name]:
            assert fragment in result["message"]
        return
    assert result["status"] == "match", result
    assert result["max_abs_diff"] <= TOLERANCES.get(name, TOLERANCE)
    assert result["replica_spread"] <= TOLERANCE


def test_the_callback_scenarios_did_what_they_test(results: dict[str, Any]) -> None:
    # Each scenario's one-device outcome, so a check that trivially matches (nothing
    # happened on either side) fails here.
    early = results["callback:EarlyStopping"]["one_device"]
    assert early["epochs_run"] == 3  # epoch 1 improves on inf; patience 2 stops after epoch 3
    recovery = results["callback:DivergenceRecovery"]["one_device"]
    assert recovery["retries"] >= 1
    assert recovery["learning_rate"] == pytest.approx(30.0 * 0.1 ** recovery["retries"], rel=1e-5)
    finder = results["callback:BatchSizeFinder"]["one_device"]
    assert finder["batch_size"] == 16  # the largest size tried (all samples)
    assert finder["trace_left"] == 0.0
    assert finder["learning_rate"] == pytest.approx(0.1 * 16 / 8)  # linear rule, base batch 8
    assert results["callback:LRFinder"]["one_device"]["restored"] == 0.0
    assert results["callback:GradientMonitor"]["one_device"]["global_clipnorm"] > 0  # AutoClip set it
    for name in ("LBFGS", "ConjugateGradient"):
        assert results[f"synchronized batch norm:{name}"]["one_device"]["trained"] == 1.0
    distilled = results["compression:distillation"]
    assert distilled["one_device"]["first_distillation_loss"] > 0.1  # the student is pulled to the teacher
    assert {"loss", "label_loss", "distillation_loss", "val_loss", "val_label_loss",
            "val_distillation_loss"} <= set(distilled["outcomes"])


def test_the_runner_refuses_keras_clipping_and_accumulation_under_mirrored(results: dict[str, Any]) -> None:
    refusal = results["runner"]["refusal"]
    assert refusal["exit"] == 2
    assert not refusal["wrote"]  # refused before the run directory was made
    assert "2 problems found" in refusal["stderr"]
    assert "training.optimizer.global_clipnorm: Keras's Adam clips each replica's share" in refusal["stderr"]
    assert "training.optimizer.gradient_accumulation_steps: gradient accumulation" in refusal["stderr"]
    assert "MirroredStrategy (2 replicas)" in refusal["stderr"]
    assert "Traceback" not in refusal["stderr"]


def test_the_runner_splits_the_global_batch_and_scales_the_rate(results: dict[str, Any]) -> None:
    scaled = results["runner"]["scaled"]
    assert scaled["exit"] == [0, 0], scaled["stderr"]
    mirrored, alone = scaled["runtime"]
    assert (mirrored["strategy"], mirrored["replicas"], mirrored["learning_rate_factor"]) == ("mirrored", 2, 2.0)
    assert (alone["strategy"], alone["replicas"], alone["learning_rate_factor"]) == ("one_device", 1, 1.0)
    # lr 0.05 x 2 replicas over the global batch 16 = lr 0.1 on one device, step for step.
    for key, values in alone_history(scaled).items():
        assert scaled["history"][0][key] == pytest.approx(values, rel=1e-5, abs=1e-6), key


def test_the_runner_trains_lbfgs_through_synchronized_batch_norm(results: dict[str, Any]) -> None:
    runs = results["runner:line_search"]
    assert runs["exit"] == [0, 0], runs["stderr"]
    mirrored, alone = runs["loss"]
    assert alone[-1] < alone[0]  # it trained
    assert mirrored == pytest.approx(alone, rel=1e-5)


def alone_history(scaled: dict[str, Any]) -> dict[str, list[float]]:
    history = scaled["history"][1]
    assert history["loss"][-1] < history["loss"][0]  # it trained
    return history
