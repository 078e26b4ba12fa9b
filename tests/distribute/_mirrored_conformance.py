"""Every kerasopt component under `MirroredStrategy` (two logical CPUs) against one device.

Runs in a process of its own, because the two logical CPU devices must be configured
before TensorFlow initializes its devices:

    python -m tests.distribute._mirrored_conformance RESULTS.json [PART PARTS]

`tests/distribute/test_mirrored.py` starts it as two processes side by side (part 0 and
part 1 of 2: every other check each; the runner's refusal and scaled runs in part 0, its
line-search runs in the last part, so that neither process waits for the other) and reads
their JSON. Each check
(`_optimizer_checks.py`, `_component_checks.py`, and the recipe runner's below) is a
function of a strategy that builds a tiny model in the strategy's scope, trains it on a
fixed global batch (`shuffle=False`) and returns its outcome: named arrays (weights,
masks, learning rates, stopping epochs...). A check runs under the default strategy (one
device) and under `MirroredStrategy` over both logical CPUs (the strategy the recipe
runner uses for `runtime: {device: cpu, strategy: mirrored}`); the result is

- `match`: every outcome agrees to `TOLERANCE` (or the check's entry in `TOLERANCES`),
  relative to the one-device value where that exceeds 1 in magnitude, absolute below, and every mirrored variable holds the same
  value on both replicas (a variable written per replica with different values would
  otherwise pass, since `get_weights` reads the first replica only);
- `mismatch`: numbers differ (`max_abs_diff`, `worst`: which outcome) or replicas disagree;
- `refused`: the one-device run succeeded and the mirrored run raised an error whose
  message names `MirroredStrategy` (`message` holds it);
- `error`: anything else (`message` holds the traceback's last lines).

Optimizers are enumerated from the registry (with the hyperparameters of the
optimizer conformance suite, `tests/optimizers/conformance_settings_*.py`), so a newly
registered optimizer is covered without an edit here.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.distribute._component_checks import OTHER_CHECKS
from tests.distribute._optimizer_checks import optimizer_checks, variant_checks

TOLERANCE = 1e-5
# float16 forward passes round differently on a half batch than on the whole batch.
TOLERANCES = {"variant:mixed_float16 loss scaling": 1e-3}


def _configure_devices() -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


# ----------------------------------------------------------------------------- the runner
def _cli_run(folder: Path, name: str, **sections: Any) -> dict[str, Any]:
    """`kerasopt run` on the tiny recipe with `sections` merged in: exit status, stderr, metrics."""
    import contextlib
    import io

    from kerasopt.cli import main as cli_main
    from tests.tiny_recipe import write_tiny_recipe

    where = folder / name
    where.mkdir()
    recipe = write_tiny_recipe(where, **sections)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli_main(["run", recipe, "--output-dir", str(where / "run")])
    metrics = where / "run" / "metrics.json"
    return {"exit": status, "stderr": stderr.getvalue(), "wrote": (where / "run").exists(),
            "metrics": json.loads(metrics.read_text()) if metrics.exists() else None}


def runner_checks(folder: Path) -> dict[str, Any]:
    """The runner under `runtime.strategy: mirrored` (both logical CPUs).

    - `refusal`: a Keras Adam with `global_clipnorm` and `gradient_accumulation_steps` is
      refused before anything is written, both problems in one message;
    - `scaled`: an MLP with batch normalization, SGD at lr 0.05 with `scale_learning_rate:
      linear` under two replicas trains exactly as SGD at lr 0.1 on one device
      (`data.batch_size` is the global batch, the rate is multiplied by the replica count,
      and batch norm is synchronized over replicas).
    """
    runtime = {"verbose": 0, "tensorboard": {"enabled": False}, "device": "cpu"}
    refused = _cli_run(folder, "refused", training={
        "epochs": 1, "optimizer": {"type": "adam", "global_clipnorm": 1.0,
                                   "gradient_accumulation_steps": 2}},
        runtime={**runtime, "strategy": "mirrored"})
    model = {"architecture": "mlp", "units": [8], "normalization": "batch"}
    mirrored = _cli_run(folder, "mirrored", model=model, training={
        "epochs": 2, "optimizer": {"type": "sgd", "learning_rate": 0.05}},
        runtime={**runtime, "strategy": "mirrored", "scale_learning_rate": "linear"})
    alone = _cli_run(folder, "one_device", model=model, training={
        "epochs": 2, "optimizer": {"type": "sgd", "learning_rate": 0.1}},
        runtime={**runtime, "strategy": "one_device"})
    return {"refusal": {key: refused[key] for key in ("exit", "stderr", "wrote")},
            "scaled": {"exit": [mirrored["exit"], alone["exit"]],
                       "stderr": mirrored["stderr"] + alone["stderr"],
                       "runtime": [(m or {}).get("runtime") for m in (mirrored["metrics"], alone["metrics"])],
                       "history": [(m or {}).get("stages", [{}])[0].get("history")
                                   for m in (mirrored["metrics"], alone["metrics"])]}}


def line_search_runs(folder: Path) -> dict[str, Any]:
    """LBFGS on the whole training set (162 samples) through batch norm, which the runner
    synchronizes under two replicas: exit codes and the loss curves, mirrored then one device."""
    runtime = {"verbose": 0, "tensorboard": {"enabled": False}, "device": "cpu"}
    model = {"architecture": "mlp", "units": [8], "normalization": "batch"}
    runs = [_cli_run(folder, f"lbfgs_{strategy}", model=model, data={"batch_size": 162},
                     training={"epochs": 3, "optimizer": {"type": "lbfgs"}},
                     runtime={**runtime, "strategy": strategy})
            for strategy in ("mirrored", "one_device")]
    return {"exit": [r["exit"] for r in runs], "stderr": "".join(r["stderr"] for r in runs)[-3000:],
            "loss": [(r["metrics"] or {}).get("stages", [{}])[0].get("history", {}).get("loss") for r in runs]}


# ----------------------------------------------------------------------------- comparison
def compare(check: Callable[[Any], dict[str, Any]], mirrored: Any,
            tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Run `check` on one device and under `mirrored`; classify the outcome."""
    import tensorflow as tf

    try:
        alone = check(tf.distribute.get_strategy())
    except Exception:  # noqa: BLE001 - reported, the suite goes on
        return {"status": "error", "message": "one device: " + _last_lines()}
    try:
        spread = check(mirrored)
    except Exception as err:  # noqa: BLE001 - a refusal is an expected outcome for some
        if "MirroredStrategy" in str(err):
            return {"status": "refused", "message": str(err)}
        return {"status": "error", "message": "mirrored: " + _last_lines()}
    worst, diff = "", 0.0
    for key, value in alone.items():
        if key == "replica_spread":
            continue
        other = spread.get(key)
        if other is None or np.shape(other) != np.shape(value):
            return {"status": "mismatch", "worst": key, "message": f"{key}: shapes differ"}
        reference = np.asarray(value, "float64")
        gap = float(np.max(np.abs(reference - np.asarray(other, "float64"))
                           / np.maximum(1.0, np.abs(reference)), initial=0.0))
        if not gap <= diff:
            worst, diff = key, gap
    replicas = float(spread.get("replica_spread", 0.0))
    ok = diff <= tolerance and replicas <= TOLERANCE
    scalars = {k: float(v) for k, v in alone.items() if np.ndim(v) == 0 and k != "replica_spread"}
    return {"status": "match" if ok else "mismatch", "max_abs_diff": diff, "worst": worst,
            "replica_spread": replicas, "outcomes": sorted(alone), "one_device": scalars}


def _last_lines() -> str:
    return "".join(traceback.format_exc().strip().splitlines(keepends=True)[-6:])


def main(path: str, part: int = 0, parts: int = 1) -> None:
    _configure_devices()
    from kerasopt.distribute.device import select_placement

    # The runner's own strategy object: two MirroredStrategy objects over the same devices
    # in one process collide in their collective keys (see `select_placement`).
    mirrored = select_placement("cpu", "mirrored").strategy
    assert [d.upper() for d in mirrored.extended.worker_devices] == [
        f"/JOB:LOCALHOST/REPLICA:0/TASK:0/DEVICE:CPU:{i}" for i in range(2)], mirrored.extended.worker_devices
    results: dict[str, Any] = {}
    checks = list({**optimizer_checks(), **variant_checks(), **OTHER_CHECKS}.items())
    for name, check in checks[part::parts]:
        started = time.perf_counter()
        results[name] = compare(check, mirrored, TOLERANCES.get(name, TOLERANCE))
        results[name]["seconds"] = round(time.perf_counter() - started, 2)
    with tempfile.TemporaryDirectory() as folder:
        if part == 0:
            results["runner"] = runner_checks(Path(folder))
        if part == parts - 1:
            results["runner:line_search"] = line_search_runs(Path(folder))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:4]))
