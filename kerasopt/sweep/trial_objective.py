"""One sweep trial: draw the params, run the recipe into `trial_<number>/`, return the metric."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerasopt.recipe.check.loader import LoadedRecipe, load_recipe, progress_overrides
from kerasopt.sweep.search_space import SearchSpace
from kerasopt.sweep.study_storage import retry_of


class TrialFailed(Exception):
    """A trial's run failed (the sweep records it as failed and goes on with the next trial)."""


def metric_value(metrics: dict[str, Any], metric: str) -> float:
    """The sweep metric from metrics.json: `val_X` -> `evaluation.validation.X`, `test_X` -> `.test.X`,
    `exports.F.K` -> `exports.F.K` (`exports.tflite.bytes`), `params` -> `params`.

    Non-finite or missing values (`null` in metrics.json) become NaN (Optuna fails such trials).

    Raises:
        ValueError: When the split has no such metric (naming those it has).

    Example:
        >>> metric_value({"evaluation": {"validation": {"accuracy": 0.75}}}, "val_accuracy")
        0.75
        >>> metric_value({"exports": {"tflite": {"bytes": 5120}}}, "exports.tflite.bytes")
        5120.0
    """
    if metric == "params" or metric.startswith("exports."):
        keys = metric.split(".")
        section: Any = metrics
        for depth, key in enumerate(keys):
            if not isinstance(section, dict) or key not in section:
                has = sorted(section) if isinstance(section, dict) else []
                where = ".".join(keys[:depth]) or "metrics.json"
                raise ValueError(f"the sweep metric {metric!r} is not in metrics.json; {where} has "
                                 f"{', '.join(has) or 'nothing'}")
            section = section[key]
        return _finite(section)
    split, _, name = metric.partition("_")
    section = (metrics.get("evaluation") or {}).get({"val": "validation", "test": "test"}[split]) or {}
    if name not in section:
        raise ValueError(f"the sweep metric {metric!r} is not in metrics.json; the run has "
                         f"{', '.join(f'{split}_{k}' for k in sorted(section)) or 'no such split'}")
    return _finite(section[name])


def _finite(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else math.nan


def write_trial_file(run_dir: Path, record: dict[str, Any]) -> None:
    """Write `trial.json` (number, state, params, value, ...) into a trial's run directory, atomically."""
    from kerasopt.atomic import atomic_target

    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_target(run_dir / "trial.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=True) + "\n", encoding="utf-8")


class _NoPruning:
    """What a trial that reports nothing to a pruner holds instead of a PruningCallback."""

    pruned = False
    pruned_at = None
    reported: list[float] = []  # noqa: RUF012 - never appended to


_NO_PRUNING = _NoPruning()


class TrialObjective:
    """The Optuna objective of a sweep: one recipe run per trial.

    The trial's params become `KEY=VALUE` overrides after the sweep's own, and the recipe's
    name becomes `<name>-trial_<number>` (each trial is its own session in TensorBoard's
    HParams dashboard). Each trial writes `trial.json` next to the runner's files. A trial
    that runs again a trial whose process died (Optuna's retry of a heartbeat-stale trial)
    continues that trial's run directory, name and all, resuming from its backup.
    A failed trial keeps its one-line reason in `user_attrs["error"]`, a pruned one its
    epoch in `user_attrs["pruned_at_epoch"]`.

    Args:
        loaded: The base recipe, loaded with the sweep's overrides.
        space: The search space.
        overrides: The sweep's fixed `KEY=VALUE` overrides. Defaults to `()`.
        sweep_dir: Where `trial_<number>/` folders go.
        metrics: The objectives' metrics (see :func:`metric_value`); with one, a trial's
            value is a number and its per-epoch validation log is reported for pruning; with
            several, the trial returns one value per metric and reports nothing (Optuna
            cannot prune multi-objective trials).
        log: Prints one line per trial event. Defaults to `print`.
        parent_runs: Per `runtime.loggers` entry, the sweep's MLflow parent run (each
            trial's run is its child). Defaults to `()`.
    """

    def __init__(self, loaded: LoadedRecipe, space: SearchSpace, *, overrides: Sequence[str] = (),
                 sweep_dir: Path, metrics: Sequence[str], log: Any = print,
                 parent_runs: Sequence[str | None] = ()) -> None:
        self.loaded = loaded
        self.space = space
        self.overrides = list(overrides)
        self.sweep_dir = Path(sweep_dir)
        self.metrics = list(metrics)
        self.log = log
        self.parent_runs = list(parent_runs)

    def __call__(self, trial: Any) -> float | tuple[float, ...]:
        import optuna

        from kerasopt.recipe.run.runner import run
        from kerasopt.sweep.pruning_callback import PruningCallback

        values = {key: dist.suggest(trial, key) for key, dist in self.space.params.items()}
        first = retry_of(trial)
        number = trial.number if first is None else first
        run_dir = self.sweep_dir / f"trial_{number}"
        resume = first is not None and run_dir.is_dir()
        trial.set_user_attr("run_dir", run_dir.name)
        multi = len(self.metrics) > 1
        record: dict[str, Any] = {"number": trial.number, "params": values, "state": "running"}
        record.update({"metrics": self.metrics, "values": None} if multi else
                      {"metric": self.metrics[0], "value": None})
        if first is not None:
            record["runs_again"] = first
        # trial.json is written when the trial ends: the run directory must be empty to start.
        settings = " ".join(f"{k}={v!r}" for k, v in values.items())
        again = f" (trial {first} again, its process died: resuming {run_dir})" if resume else (
            f" (trial {first} again, its process died)" if first is not None else "")
        self.log(f"trial {trial.number}: {settings}{again}")
        name = f"{self.loaded.recipe.name}-trial_{number}"[:100]
        overrides = progress_overrides(self.loaded, [*self.overrides, *self.space.overrides(self.loaded, values),
                                                     f"name={name}"])
        evaluated = [m for m in self.metrics if m.startswith(("val_", "test_"))]
        monitor = "val_" + evaluated[0].partition("_")[2] if evaluated else None
        pruning = PruningCallback(trial, monitor) if monitor and not multi else _NO_PRUNING
        started = time.perf_counter()
        try:
            trial_recipe = load_recipe(str(self.loaded.path), overrides)
            callbacks = [] if pruning is _NO_PRUNING else [pruning]
            metrics = run(trial_recipe, output_dir=str(run_dir), resume=resume, callbacks=callbacks,
                          parent_runs=self.parent_runs)
            found = tuple(metric_value(metrics, m) for m in self.metrics)
        except optuna.TrialPruned:
            trial.set_user_attr("pruned_at_epoch", pruning.pruned_at)
            self._finish(run_dir, record, "pruned", pruning, started)
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            self._finish(run_dir, record, "interrupted", pruning, started)
            # The sweep says itself that it stopped and how to continue; Optuna's "Trial N
            # failed" warnings, with a traceback, would only bury that.
            optuna.logging.set_verbosity(optuna.logging.ERROR)
            raise
        except Exception as err:
            from kerasopt.recipe.errors import describe

            reason = describe(err)
            trial.set_user_attr("error", reason.strip().splitlines()[0] if reason.strip() else reason)
            self._finish(run_dir, record, "failed", pruning, started, error=reason)
            if isinstance(err, ValueError) and "sweep metric" in str(err):
                raise  # a wrong metric fails every trial alike: stop the sweep
            raise TrialFailed(describe(err)) from err
        record["values" if multi else "value"] = list(found) if multi else found[0]
        if pruning.pruned:
            trial.set_user_attr("pruned_at_epoch", pruning.pruned_at)
            self._finish(run_dir, record, "pruned", pruning, started)
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        self._finish(run_dir, record, "complete", pruning, started)
        return found if multi else found[0]

    def _finish(self, run_dir: Path, record: dict[str, Any], state: str, pruning: Any,
                started: float, error: str | None = None) -> None:
        seconds = time.perf_counter() - started
        record.update(state=state, seconds=round(seconds, 3), intermediate=pruning.reported)
        if pruning.pruned:
            record["pruned_at_epoch"] = pruning.pruned_at
        if error is not None:
            record["error"] = error
        write_trial_file(run_dir, record)
        if state == "complete":
            values = record["values"] if "values" in record else [record["value"]]
            detail = ", ".join(f"{m}={v:.4g}" for m, v in zip(self.metrics, values, strict=True))
        elif state == "pruned":
            detail = f"pruned after epoch {pruning.pruned_at}"
        else:
            detail = state if error is None else f"{state}: {error}"
        self.log(f"trial {record['number']}: {detail} ({seconds:.1f} s)")
