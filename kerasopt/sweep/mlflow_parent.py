"""The MLflow parent run of a sweep: each trial's run (`runtime.loggers: [{type: mlflow}]`) is its
child (tag `mlflow.parentRunId`), so MLflow's UI groups a sweep's trials under one row.

The parent's run id is kept in the Optuna study (user attribute `kerasopt_mlflow_parents`), which
every process of the sweep shares: worker processes, a sweep continued after an interruption,
and sweeps on other machines against the same storage all report under the same parent.
"""

from __future__ import annotations

import sys
from typing import Any

from kerasopt.recipe.errors import RunFailed

PARENTS_ATTR = "kerasopt_mlflow_parents"


def open_parent_runs(sweep: Any, study: Any) -> list[str | None]:
    """Create the sweep's parent run for each `runtime.loggers` entry, or reopen the study's.

    Args:
        sweep: The :class:`~kerasopt.sweep.sweep.Sweep`.
        study: Its Optuna study.

    Returns:
        Per logger, the parent run's id (empty when the recipe logs nowhere).

    Raises:
        RunFailed: A tracking server does not answer.
    """
    recipe = sweep.loaded.recipe
    if not recipe.runtime.loggers:
        return []
    from mlflow.entities import Param

    from kerasopt.recipe.run.mlflow_tracking import MlflowTracker, parameters

    held = dict(study.user_attrs.get(PARENTS_ATTR) or {})
    run_ids: list[str | None] = []
    for index, options in enumerate(recipe.runtime.loggers):
        tracker = MlflowTracker(options, index, recipe.name, run_dir=None)
        tracker.connect()
        entry = held.get(str(index)) or {}
        if entry.get("tracking_uri") == tracker.uri and entry.get("run_id"):
            tracker.client.update_run(entry["run_id"], status="RUNNING")
            run_ids.append(entry["run_id"])
            continue
        run = tracker.client.create_run(
            tracker.experiment_id, run_name=sweep.output_dir.resolve().name,
            tags={"kerasopt.sweep_dir": str(sweep.output_dir.resolve()), "kerasopt.study": sweep.study_name,
                  **options.tags})
        spec = {"sweep": {"params": {k: str(d) for k, d in sweep.space.params.items()}, "metric": sweep.metric,
                          "direction": sweep.direction, "trials": sweep.trials, "sampler": sweep.sampler}}
        tracker.client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in parameters(spec).items()])
        held[str(index)] = {"tracking_uri": tracker.uri, "run_id": run.info.run_id}
        run_ids.append(run.info.run_id)
    study.set_user_attr(PARENTS_ATTR, held)
    return run_ids


def end_parent_runs(sweep: Any, run_ids: list[str | None], error: BaseException | None,
                    best: dict[str, Any] | None = None) -> None:
    """Log the best trial's value (`best_<metric>`) and number, and end the parent runs as the sweep ended."""
    if not run_ids:
        return
    from kerasopt.recipe.run.mlflow_tracking import MlflowTracker, exit_status

    for index, (options, run_id) in enumerate(zip(sweep.loaded.recipe.runtime.loggers, run_ids, strict=False)):
        if run_id is None:
            continue
        tracker = MlflowTracker(options, index, sweep.loaded.recipe.name, run_dir=None)
        try:
            tracker.connect()
        except RunFailed as err:  # the trials' runs are complete; only the parent's status is missing
            print(f"kerasopt: warning: the sweep's MLflow run {run_id} was not ended: {err}", file=sys.stderr)
            continue
        tracker.run_id = run_id
        if best is not None and best.get("value") is not None:
            tracker.log_results({f"best_{sweep.metric}": best["value"], "best_trial": best["number"]}, "sweep", 0)
        tracker.end(exit_status(error))
