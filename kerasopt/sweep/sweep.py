"""`kerasopt sweep`: an Optuna study over a recipe's values, one run directory per trial."""

from __future__ import annotations

import itertools
import re
import shlex
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.check.sweep_metrics import objective_problems
from kerasopt.recipe.errors import Problem, RecipeError
from kerasopt.recipe.format.schema_sweep import (
    METRIC_PATTERN,
    METRIC_SYNTAX,
    SAMPLERS,
    resolve_direction,
)
from kerasopt.recipe.format.sweep_distribution import LIST_CHOICES_WARNING
from kerasopt.sweep.failure_log import quiet_failed_trials
from kerasopt.sweep.search_space import SearchSpace
from kerasopt.sweep.study_states import summary_lines, tally
from kerasopt.sweep.study_storage import (
    HEARTBEAT_SECONDS,
    fail_dead_trials,
    grace_period,
    open_storage,
)
from kerasopt.sweep.trial_objective import TrialFailed, TrialObjective

DEFAULT_TRIALS = 20
MIN_FAILED_TO_STOP = 3
"""A sweep (not a grid) stops once max(trials, this) trials failed with an error."""
SPEC_ATTR = "kerasopt_sweep"


class Sweep:
    """A hyperparameter sweep of a recipe on Optuna, resumable and shareable through its storage.

    `trials` is the number of complete trials the study should hold: failed and pruned
    trials do not count. Running the same command again continues an interrupted sweep up
    to it (raise it to add trials), and the same command in several processes or on several
    machines against one RDB storage shares the work: each process starts a trial only
    while the complete and running trials are fewer than `trials`, then waits for the
    trials running elsewhere, so the study ends with `trials` complete ones (one more per
    extra process at most, when several start their last trial at the same instant).

    A trial whose process died (SIGKILL, a lost machine) stops beating its heartbeat; after
    `3 * heartbeat` seconds the next process to look marks it failed and runs it again as a
    new trial in the same run directory, resuming from its backup (see
    :mod:`kerasopt.sweep.study_storage`). A grid sweep ends when each point has been tried
    once (a point that failed with an error is not tried again); any other sweep stops with
    an error once `max(trials, 3)` trials failed with an error.

    With several `objectives` the study is multi-objective (Optuna's `directions`): each
    trial's run gives one value per objective, the `tpe` or `nsga2` sampler searches the
    trade-off, and the report draws and lists the Pareto front (`study.best_trials`: the
    complete trials no other complete trial beats in every objective). Optuna cannot prune
    trials of a multi-objective study, so `prune`/`pruner` is refused with them.

    Args:
        recipe: A recipe file or shipped recipe name.
        space: What to vary.
        overrides: Fixed `KEY=VALUE` overrides of every trial. Defaults to `()`.
        trials: Complete trials the study should hold. Defaults to `None` (the grid's size
            for `sampler="grid"`, else 20).
        sampler: `"tpe"`, `"random"`, `"grid"` or `"nsga2"` (Optuna's NSGAIISampler).
            Defaults to `"tpe"`.
        metric: `val_<name>` or `test_<name>` from metrics.json's evaluation, `exports.<file>.<key>`
            (`exports.tflite.bytes`) or `params`. Defaults to `"val_loss"`.
        direction: `"minimize"`, `"maximize"` or `"auto"`. Defaults to `"auto"`.
        objectives: (metric, direction) pairs, instead of `metric` and `direction`; two or
            more make a multi-objective study. Defaults to `None` (`[(metric, direction)]`).
        output_dir: The sweep directory. Defaults to `None` (`saved_models/<recipe name>-sweep/`).
        storage: An Optuna RDB URL. Defaults to `None` (`sqlite:///<output_dir>/study.db`).
        study_name: Defaults to `None` (the recipe's name).
        prune: Stop unpromising trials early with Optuna's MedianPruner. Defaults to `False`.
        pruner: An Optuna pruner to use instead (implies pruning). Defaults to `None`.
        seed: Seed of the sampler. Defaults to `None` (each process samples differently).
        heartbeat: Seconds between a running trial's heartbeats (a whole number >= 1).
            Defaults to `HEARTBEAT_SECONDS` (10).
        debug: Keep Optuna's tracebacks of failed trials (`--debug`). Defaults to `False`: a
            failed trial is one line, `trial N: failed: <reason>` (see
            :mod:`kerasopt.sweep.failure_log`).

    Raises:
        RecipeError: When the recipe, a key or a value at a corner of the space is invalid,
            or the study already holds a sweep of other params.
    """

    def __init__(self, recipe: str, space: SearchSpace, *, overrides: Sequence[str] = (),
                 trials: int | None = None, sampler: str = "tpe", metric: str = "val_loss",
                 direction: str = "auto", output_dir: str | None = None, storage: str | None = None,
                 study_name: str | None = None, prune: bool = False, pruner: Any = None,
                 seed: int | None = None, heartbeat: int = HEARTBEAT_SECONDS,
                 objectives: Sequence[tuple[str, str]] | None = None, debug: bool = False) -> None:
        problems = []
        if objectives is not None and (metric != "val_loss" or direction != "auto"):
            problems.append(Problem(("objectives",), "give either `objectives` or `metric`/`direction`",
                                    list(objectives), "one of the two"))
        pairs = [(metric, direction)] if objectives is None else [tuple(o) for o in objectives]
        if not pairs:
            problems.append(Problem(("objectives",), "needs at least one objective", [], "(metric, direction) pairs"))
        if sampler not in SAMPLERS:
            problems.append(Problem(("sampler",), "unknown sampler", sampler, list(SAMPLERS)))
        if sampler == "grid" and space.grid() is None:
            problems.append(Problem(("sampler",), "the grid sampler needs every param to be a "
                                    "choice(...)", sampler, "tpe, random, or only choice params"))
        key = "metric" if len(pairs) == 1 else "objectives"
        for index, (name, way) in enumerate(pairs):
            at: tuple[str, ...] = () if len(pairs) == 1 else ("objectives", str(index))
            if not isinstance(name, str) or re.fullmatch(METRIC_PATTERN, name) is None:
                problems.append(Problem((*at, "metric"), "must name a metric of metrics.json", name,
                                        METRIC_SYNTAX))
            if way not in ("minimize", "maximize", "auto"):
                problems.append(Problem((*at, "direction"), "unknown direction", way,
                                        ["minimize", "maximize", "auto"]))
        if len(pairs) == 1 and (prune or pruner is not None) and not str(pairs[0][0]).startswith(("val_", "test_")):
            problems.append(Problem(("prune",), "pruning watches a per-epoch validation metric",
                                    pairs[0][0], "a val_<metric> or test_<metric> objective"))
        if len(pairs) > 1 and (prune or pruner is not None):
            problems.append(Problem(("pruner",) if pruner is not None else ("prune",),
                                    "Optuna cannot prune trials of a multi-objective study",
                                    pruner if pruner is not None else prune,
                                    "no pruning, or a single objective"))
        if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
            problems.append(Problem(("trials",), "must be a whole number >= 1", trials))
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
            problems.append(Problem(("heartbeat",), "must be a whole number of seconds >= 1", heartbeat))
        if problems:
            raise RecipeError(problems, "kerasopt sweep")
        self.overrides = list(overrides)
        self.loaded = load_recipe(recipe, self.overrides)
        self.recipe = recipe
        self.space = space
        key_problems = space.check_keys(self.loaded)
        if key_problems:
            raise RecipeError(key_problems, str(self.loaded.path))
        metric_problems = objective_problems(self.loaded.recipe, self.loaded.raw, [
            ((key,) if len(pairs) == 1 else ("objectives", index, "metric"), name)
            for index, (name, _) in enumerate(pairs)])
        if metric_problems:
            raise RecipeError(metric_problems, str(self.loaded.path))
        space.validate_points(self.loaded, self.overrides)
        grid = space.grid() if sampler == "grid" else None
        self.grid_size = _product(len(v) for v in grid.values()) if grid else None
        self.trials = min(trials or self.grid_size or DEFAULT_TRIALS, self.grid_size or sys.maxsize)
        self.sampler, self.seed = sampler, seed
        self.objectives = [(m, resolve_direction(m, d)) for m, d in pairs]
        self.metric, self.direction = self.objectives[0]
        self.multi = len(self.objectives) > 1
        self.output_dir = Path(output_dir or Path("saved_models") / f"{self.loaded.recipe.name}-sweep")
        self.storage = storage or f"sqlite:///{self.output_dir.resolve() / 'study.db'}"
        self.study_name = study_name or self.loaded.recipe.name
        self.prune = prune or pruner is not None
        self.pruner = pruner
        self.heartbeat = heartbeat
        self.debug = debug
        self.parent_runs: list[str | None] = []  # the MLflow parent runs, per runtime.loggers entry

    def spec(self) -> dict[str, Any]:
        """What a study's trials must share; kept in the study to refuse a different sweep."""
        spec: dict[str, Any] = {"params": {k: str(d) for k, d in self.space.params.items()}}
        if self.multi:
            spec["objectives"] = [list(o) for o in self.objectives]
        else:
            spec.update(metric=self.metric, direction=self.direction)
        return {**spec, "overrides": self.overrides}

    def command(self, worker: bool = False) -> list[str]:
        """The `kerasopt sweep` command line of this sweep (what continues it after an interruption)."""
        args = ["kerasopt", "sweep", self.recipe, *self.overrides]
        for key, dist in self.space.params.items():
            args += ["--param", f"{key}={dist}"]
        args += ["--trials", str(self.trials), "--sampler", self.sampler]
        for metric, direction in self.objectives:
            args += ["--metric", metric, "--direction", direction]
        args += ["--output-dir", str(self.output_dir),
                 "--storage", self.storage, "--study", self.study_name]
        args += ["--prune"] if self.prune else []
        args += ["--heartbeat", str(self.heartbeat)] if self.heartbeat != HEARTBEAT_SECONDS else []
        args += ["--debug"] if self.debug else []
        args += ["--worker"] if worker else []
        return args

    def open_study(self) -> Any:
        """Create the study, or load it (checking it holds this sweep)."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        quiet_failed_trials(not self.debug)
        warnings.filterwarnings("ignore", message=LIST_CHOICES_WARNING)  # see there
        self.output_dir.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(storage=open_storage(self.storage, self.heartbeat),
                                    study_name=self.study_name, sampler=self._sampler(),
                                    pruner=self._pruner(), directions=[d for _, d in self.objectives],
                                    load_if_exists=True)
        held = study.user_attrs.get(SPEC_ATTR)
        if held is None:
            study.set_user_attr(SPEC_ATTR, self.spec())
        elif held != self.spec():
            raise RecipeError([Problem(("study",), f"study {self.study_name!r} in {self.storage} holds "
                                       "another sweep; give a new --study or --output-dir",
                                       received=self.spec(), allowed=f"the same sweep: {held}")],
                              "kerasopt sweep")
        return study

    def missing_grid_points(self, study: Any) -> list[dict[str, Any]]:
        """The grid points no trial has taken (interrupted trials' points are missing again).

        Grid sweeps enqueue these one by one rather than use Optuna's GridSampler, which
        counts a point as visited once its trial has failed, also when Ctrl-C stopped it.
        """
        taken = [t.system_attrs.get("fixed_params") or t.params
                 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("interrupted")]
        grid = self.space.grid() or {}
        points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        return [p for p in points if not any(_same_point(p, t) for t in taken)]

    def optimize(self, study: Any, log: Any = print) -> int:
        """Run trials in this process until the study holds `trials` complete ones; returns how many ran.

        Trials running in other processes are waited for (a dead one is failed after the
        grace period and run again here); queued trials (retries) are run first.

        Raises:
            RuntimeError: When `max(trials, 3)` trials failed with an error (not for a grid
                sweep, which tries each point once).
        """
        objective = TrialObjective(self.loaded, self.space, overrides=self.overrides,
                                   sweep_dir=self.output_dir, metrics=[m for m, _ in self.objectives],
                                   log=log, parent_runs=self.parent_runs)
        ran, waited_for = 0, None
        while True:
            fail_dead_trials(study)  # queues a retry of each trial whose process died
            now = tally(study.get_trials(deepcopy=False))
            if now.complete >= self.trials:
                break
            missing = self.missing_grid_points(study) if self.grid_size is not None and not now.waiting else []
            idle = not now.waiting and (now.complete + len(now.running) >= self.trials
                                        or (self.grid_size is not None and not missing))
            if idle and not now.running:
                break  # a grid whose every point was tried
            if self.grid_size is None and now.errors >= max(self.trials, MIN_FAILED_TO_STOP):
                raise RuntimeError(f"{now.errors} trials failed (see the summary above); the sweep "
                                   f"stops with {now.complete} of {self.trials} complete trials")
            if idle:
                if now.running != waited_for:
                    waited_for = now.running
                    log(f"waiting for trial{'s' * (len(now.running) > 1)} "
                        f"{', '.join(map(str, now.running))} (running elsewhere; one whose process died is "
                        f"run again here {grace_period(self.heartbeat)} s after its last heartbeat)")
                time.sleep(self.heartbeat)
                continue
            if missing:
                study.enqueue_trial(missing[0])
            study.optimize(objective, n_trials=1, catch=(TrialFailed,), gc_after_trial=True)
            ran += 1
        return ran

    def run(self, workers: int = 1, worker: bool = False, log: Any = print) -> dict[str, Any]:
        """Run the sweep (with `workers` local processes), write its report, return the best trial.

        Returns:
            `best` (number, value, params, run_dir), `states` (trials per state) and `report`
            (the Markdown report's path; None when no trial finished); a multi-objective sweep
            gives `pareto` (number, values, params, run_dir of each trial on the front) and
            `best` None. A worker (`worker`
            true: one of the processes of `workers`) returns only `ran`.

        Raises:
            KeyboardInterrupt: After marking the interrupted trial and printing how to continue.
            RuntimeError: When `max(trials, 3)` trials failed with an error (after the report).
        """
        if workers < 1:
            raise ValueError(f"`workers` must be >= 1. Received: workers={workers}")
        from kerasopt.sweep.mlflow_parent import end_parent_runs, open_parent_runs

        study = self.open_study()
        self.parent_runs = open_parent_runs(self, study)  # before the workers, which find them in the study
        try:
            if worker:
                return {"ran": self.optimize(study, log)}
            if workers > 1:
                self._run_workers(workers)
            else:
                self.optimize(study, log=log)
        except KeyboardInterrupt as err:
            log(f"kerasopt: sweep interrupted; the interrupted trial is marked failed and will be "
                f"run again. The study is intact in {self.storage}.\nContinue with:\n  "
                + shlex.join(self.command()))
            end_parent_runs(self, self.parent_runs, err)
            raise
        except RuntimeError as err:
            self.finish(study, log)
            end_parent_runs(self, self.parent_runs, err)
            raise
        result = self.finish(study, log)
        end_parent_runs(self, self.parent_runs, None, result["best"])
        return result

    def finish(self, study: Any, log: Any = print) -> dict[str, Any]:
        """Write the report of every trial directory and print the best trial."""
        from optuna.trial import TrialState

        from kerasopt.report.comparison import Comparison

        trials = study.get_trials(deepcopy=False)
        states = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState
                  if any(t.state == s for t in trials)}
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        result: dict[str, Any] = {"best": None, "states": states, "report": None}
        runs = sorted((p for p in self.output_dir.glob("trial_*") if (p / "metrics.json").exists()),
                      key=lambda p: int(p.name.split("_")[-1]))
        front = self.pareto_front(study) if self.multi else None
        if runs:
            comparison = Comparison(runs, metric=self._report_metric(), pareto=front)
            result["report"] = comparison.write(self.output_dir / "report.md")
            comparison.write(self.output_dir / "report.html")
        summary = ", ".join(f"{n} {s}" for s, n in states.items())
        log(f"study {self.study_name!r}: {len(trials)} trials ({summary}); complete trials count "
            f"towards --trials {self.trials}")
        for line in summary_lines(trials):
            log(f"  {line}")
        if done and front is not None:
            result["pareto"] = [{"number": t.number, "values": t.values, "params": t.params,
                                 "run_dir": str(self.output_dir / t.user_attrs.get("run_dir", f"trial_{t.number}"))}
                                for t in study.best_trials]
            log(f"Pareto front ({', '.join(f'{m} {d}' for m, d in self.objectives)}): "
                f"{len(result['pareto'])} of {len(done)} complete trials")
            for point in result["pareto"]:
                values = ", ".join(f"{m}={v:.4g}" for (m, _), v in zip(self.objectives, point["values"], strict=True))
                log(f"  trial {point['number']}: {values} ({point['run_dir']})")
        elif done:
            best = study.best_trial
            run_dir = self.output_dir / best.user_attrs.get("run_dir", f"trial_{best.number}")
            result["best"] = {"number": best.number, "value": best.value, "params": best.params,
                              "run_dir": str(run_dir)}
            log(f"best trial {best.number}: {self.metric}={best.value:.4g} ({run_dir})")
            for key, value in best.params.items():
                log(f"  {key}={value!r}")
        if result["report"]:
            log(f"report: {result['report']} and {self.output_dir / 'report.html'}")
        return result

    def pareto_front(self, study: Any) -> Any:
        """The :class:`~kerasopt.report.pareto.ParetoFront` of a multi-objective study's complete trials."""
        from optuna.trial import TrialState

        from kerasopt.report.pareto import ParetoFront

        def name(trial: Any) -> str:
            return trial.user_attrs.get("run_dir", f"trial_{trial.number}")

        complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        return ParetoFront(objectives=self.objectives, values={name(t): tuple(t.values) for t in complete},
                           front=[name(t) for t in study.best_trials])

    def _report_metric(self) -> str:
        """The metric of the report's curves: the first `val_`/`test_` objective's (else accuracy)."""
        evaluated = [m for m, _ in self.objectives if m.startswith(("val_", "test_"))]
        return evaluated[0].partition("_")[2] if evaluated else "accuracy"

    def _run_workers(self, workers: int) -> None:
        procs = [subprocess.Popen([sys.executable, "-m", "kerasopt.cli", *self.command(worker=True)[1:]])
                 for _ in range(workers)]
        try:
            codes = [p.wait() for p in procs]
        except KeyboardInterrupt:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            for proc in procs:
                proc.wait()
            raise
        if any(codes):
            raise RuntimeError(f"sweep worker processes exited with {codes}")

    def _sampler(self) -> Any:
        import optuna

        if self.sampler in ("grid", "random"):  # a grid's trials are enqueued: nothing is sampled
            return optuna.samplers.RandomSampler(seed=self.seed)
        if self.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed)

    def _pruner(self) -> Any:
        import optuna

        if self.pruner is not None:
            return self.pruner
        if self.prune:
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        return optuna.pruners.NopPruner()


def _same_point(point: dict[str, Any], params: dict[str, Any]) -> bool:
    return all(k in params and type(params[k]) is type(v) and params[k] == v for k, v in point.items())


def _product(numbers: Any) -> int:
    out = 1
    for n in numbers:
        out *= n
    return out
