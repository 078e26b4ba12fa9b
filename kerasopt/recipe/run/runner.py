"""`kerasopt run`: one straight line from a validated recipe to a run directory.

load+validate recipe -> build data and model -> for each stage: start (techniques), compile,
fit (callbacks), after fit -> before export (techniques) -> evaluate -> export (+verify) ->
write metrics.json.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerasopt._backend import RECIPE_RUNNER, require_tensorflow
from kerasopt.atomic import NoSpaceError
from kerasopt.recipe.check.loader import LoadedRecipe, typed_overrides
from kerasopt.recipe.errors import RunFailed, RunInterrupted
from kerasopt.recipe.run.run_callbacks import backup_folder
from kerasopt.recipe.run.run_context import Run
from kerasopt.recipe.store.resume_state import ResumeState
from kerasopt.recipe.store.run_claim import ClaimedRun, claim_run
from kerasopt.recipe.store.run_dir import RunDirectory
from kerasopt.recipe.store.stage_backup import seed_states, set_seed_states, strategy_scope


def run(loaded: LoadedRecipe, *, output_dir: str | None = None, resume: bool = False,
        overwrite: bool = False, force: bool = False, callbacks: Sequence[Any] = (),
        claimed: ClaimedRun | None = None, parent_runs: Sequence[str | None] = ()) -> dict[str, Any]:
    """Run a validated recipe and return what was written to `metrics.json`.

    The run directory is locked for the run (:class:`~kerasopt.recipe.store.run_lock.RunLock`).
    A directory that already holds a run is refused unless `resume` or `overwrite`.

    Args:
        loaded: The recipe, from :func:`kerasopt.recipe.check.loader.load_recipe`.
        output_dir: The run directory. Defaults to `saved_models/<recipe name>/`.
        resume: Continue from the run directory's checkpoints (completed stages are skipped,
            an interrupted stage resumes from its last backup). Defaults to `False`.
        overwrite: Replace the run in the directory; its files are deleted once this run
            finishes. Defaults to `False`.
        force: With `resume`, continue even though the recipe differs from the one the
            directory was started with. Defaults to `False`.
        callbacks: Further Keras callbacks for every stage's `fit` (a sweep's trial pruner,
            for example). Defaults to `()`.
        claimed: The run directory, already claimed by
            :func:`~kerasopt.recipe.store.run_claim.claim_run` (which `kerasopt run` does before
            TensorFlow starts); `output_dir`, `resume`, `overwrite` and `force` are then
            ignored. Defaults to `None` (claimed here).
        parent_runs: Per `runtime.loggers` entry, the MLflow run this run is a child of (a
            sweep's parent run), or None. Defaults to `()`.

    Returns:
        The metrics written to `metrics.json`.

    Raises:
        RunRefused: The directory is in use, holds a run (without `resume`/`overwrite`), or
            `resume` meets a changed recipe (without `force`); nothing was written.
        RunFailed: A full disk or unreadable checkpoints; the message says how to go on.
        RunInterrupted: SIGINT or SIGTERM arrived (see
            :func:`~kerasopt.recipe.run.interrupts.interrupt_on_signals`); the message shows
            the command that resumes.
        UnsupportedBackendError: Keras runs on a backend other than TensorFlow (the
            runner builds tf.data pipelines, tf.distribute strategies and TFLite files).
    """
    require_tensorflow(RECIPE_RUNNER)
    if claimed is None:
        with claim_run(loaded, output_dir=output_dir, resume=resume, overwrite=overwrite,
                       force=force) as claimed:
            return run(loaded, callbacks=callbacks, claimed=claimed, parent_runs=parent_runs)
    from kerasopt.recipe.run.mlflow_tracking import exit_status, open_trackers

    run_dir = claimed.run_dir
    try:
        trackers = open_trackers(loaded.recipe, run_dir, parent_runs)  # fails before anything is trained
        try:
            metrics = _run(loaded, run_dir, claimed.state, claimed.resume, callbacks, trackers)
        except BaseException as err:
            for tracker in trackers:
                tracker.end(exit_status(err))
            raise
        for tracker in trackers:
            tracker.end(exit_status(None))
        return metrics
    except NoSpaceError as err:
        raise RunFailed(f"{err}; free space and resume with: {resume_command(loaded, run_dir)}") from err
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, RunInterrupted) else signal.SIGINT
        raise RunInterrupted(signum, _interrupted(signum, loaded, run_dir)) from None


def resume_command(loaded: LoadedRecipe, run_dir: RunDirectory) -> str:
    """The command line that resumes this run in its run directory (with `--workers` when
    this process is one of the local workers `kerasopt run --workers` started)."""
    from kerasopt.distribute.launch import local_launch_words

    # The progress override a run adds off a terminal is the run's, not the user's: left out.
    typed = typed_overrides(loaded.overrides)
    options = local_launch_words(typed) or typed
    words = ["kerasopt", "run", str(loaded.path), *options, "--output-dir", str(run_dir.root), "--resume"]
    return " ".join(shlex.quote(w) for w in words)


def _interrupted(signum: int, loaded: LoadedRecipe, run_dir: RunDirectory) -> str:
    """What an interrupted run kept, and the command that continues it."""
    name = signal.Signals(signum).name
    if not run_dir.prepared:
        return f"kerasopt: stopped by {name} before anything was written; run the same command again."
    kept = []
    for backup in sorted(run_dir.checkpoints.glob("backup_*/backup.json")):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            epoch = run_dir.read_json(str(backup.relative_to(run_dir.root))).get("epoch")
            kept.append(f"stage {backup.parent.name[len('backup_'):]!r} from its backup after epoch {epoch}")
    progress = run_dir.path("checkpoints/progress.json")
    with contextlib.suppress(ValueError, OSError, AttributeError):
        done = run_dir.read_json("checkpoints/progress.json").get("completed", [])
        if done:
            kept.insert(0, f"completed stages {', '.join(map(repr, done))} ({progress})")
    what = "; ".join(kept) if kept else "no stage had finished or been backed up yet"
    return (f"kerasopt: stopped by {name}. Kept: {what}. Continue with:\n"
            f"  {resume_command(loaded, run_dir)}")


def _run(loaded: LoadedRecipe, run_dir: RunDirectory, state: ResumeState, resume: bool,
         callbacks: Sequence[Any], trackers: Sequence[Any] = ()) -> dict[str, Any]:
    from kerasopt.distribute.launch import WORKER_LOGS, local_launch_words
    from kerasopt.recipe.run import export_gate, session
    from kerasopt.recipe.run.mlflow_tracking import MlflowEpochLogger

    recipe = loaded.recipe
    if trackers:
        callbacks = [*callbacks, MlflowEpochLogger(list(trackers))]
    with Run(loaded, run_dir, callbacks=callbacks).open() as current:
        current.state.saved = state.techniques  # what techniques keep for --resume
        current.build()
        run_dir.prepare(resume=resume)
        if local_launch_words(loaded.overrides) is not None:
            run_dir.path(WORKER_LOGS)  # the launcher moves the other workers' logs there at the end
        run_dir.write_text("recipe.yaml", loaded.resolved_yaml())
        state.save()
        for tracker in trackers:
            tracker.start(loaded.resolved(), loaded.resolved_yaml(), resume)
        stages, fit_seconds, train_steps = _train(current, run_dir, state, trackers)
        current.finish_training()
        model, data = current.model, current.data
        metrics: dict[str, Any] = {
            "recipe": recipe.name,
            "params": model_params(model),
            # describe(model) is a collective on every worker under multi_worker.
            "runtime": {**current.placement.describe(model), **current.precision_and_scaling()},
            "timing": {"fit_seconds": fit_seconds, "train_steps": train_steps,
                       **_execution_summary(stages, current.probe_seconds)},
            "evaluation": _evaluation(session.evaluate(model, data), stages),
            "stages": stages,
            "exports": {},
            **current.report(),  # `sparsity` (overall and per layer) and what techniques add
        }
        if current.batch_size_search is not None:
            metrics["batch_size_search"] = current.batch_size_search
        run_dir.write_json("metrics.json", metrics)  # complete except exports, in case export fails
        metrics["exports"] = session.export(recipe, model, data, run_dir,
                                            baseline=current.uncompressed_model)
        failure = export_gate.failure(recipe, metrics)  # the drops go into metrics.json too
        if trackers:
            metrics["tracking"] = [{"type": "mlflow", **tracker.finish(metrics)} for tracker in trackers]
        run_dir.write_json("metrics.json", metrics)
        for tracker in trackers:
            tracker.upload_metrics_file()
        current.placement.wait_for_workers()  # multi-worker: the others stay until the chief has exported
        if failure is not None:
            raise failure
        if current.log_dir is not None:
            from kerasopt.recipe.run.tensorboard_logging import flatten, write_run_summaries

            final = {k: v for k, v in flatten(metrics["evaluation"]).items() if isinstance(v, float)}
            write_run_summaries(run_dir.logs, loaded.resolved_yaml(), loaded.resolved(), final, recipe.name)
        if recipe.runtime.verbose:
            from kerasopt.recipe.run.summary import print_summary

            print_summary(metrics, run_dir.root)
        return metrics


def model_params(model: Any) -> int:
    """The model's parameter count, without the state compression wrappers keep beside the
    wrapped layer's own weights (masks, cluster indices, quantization ranges)."""
    import keras

    from kerasopt.models.layer_walk import all_layers

    extra = set()
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Wrapper):
            own = {id(w) for w in layer.layer.weights}
            extra |= {id(w) for w in layer.weights if id(w) not in own}
    return int(sum(int(np.prod(w.shape)) for w in model.weights if id(w) not in extra))


def _execution_summary(stages: list[dict[str, Any]], probe_seconds: float) -> dict[str, Any]:
    """`timing` entries: the last trained stage's `steps_per_execution` and `jit_compile` (every
    stage's plan, with the reason, is in its `stages[i].execution`) and the time spent choosing."""
    plans = [s["execution"] for s in stages if "execution" in s]
    summary: dict[str, Any] = {"probe_seconds": probe_seconds}
    if plans:
        summary.update(steps_per_execution=plans[-1]["steps_per_execution"],
                       jit_compile=plans[-1]["jit_compile"])
    return summary


def _evaluation(final: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The final evaluation, with `last` (the final weights') when the best epoch's were restored."""
    if stages and "last" in stages[-1]:
        return {**final, "last": stages[-1]["last"], "best_epoch": stages[-1]["best_epoch"]}
    return final


def _train(current: Run, run_dir: RunDirectory, state: ResumeState,
           trackers: Sequence[Any] = ()) -> tuple[list[dict[str, Any]], float, int]:
    """Run (or, on resume, restore) every stage; returns the stage results, fit time and steps."""
    from kerasopt.recipe.run import session

    for stage in current.stages:
        weights_file = run_dir.checkpoints / f"stage_{stage.index}_{stage.name}.weights.h5"
        current.start_stage(stage)
        state.save()  # with what the techniques chose at the stage's start
        if stage.name in state.completed:
            current.compile(stage, for_fit=False)  # to load its weights and evaluate
            if _load_stage(current.model, weights_file, stage.name):
                set_seed_states(current.model, state.seeds.get(stage.name, seed_states(current.model)))
                current.end_stage(stage)
                continue
            state.forget_from(stage.name)
        started = time.perf_counter()
        offset = (sum(r["epochs"] for r in state.results), sum(r["steps"] for r in state.results))
        for tracker in trackers:
            tracker.begin_stage(stage.name, offset[0])
        fitted = current.fit(stage, offset, execution=state.executions.get(stage.name),
                             on_execution=lambda plan, name=stage.name: state.record_execution(name, plan))
        seconds = time.perf_counter() - started + fitted["seconds_before"]
        result = {"name": stage.name, "epochs": fitted["epochs"], "steps": fitted["steps"],
                  "history": fitted["history"], "execution": fitted["execution"],
                  "evaluation": session.evaluate(current.model, current.data)}
        if "best_epoch" in fitted:
            result.update(best_epoch=fitted["best_epoch"], last=fitted["last"])
        run_dir.save_weights(current.model, f"checkpoints/{weights_file.name}")
        state.stage_done(result, seconds, fitted["steps"], seed_states(current.model))
        for tracker in trackers:
            tracker.log_results(result["evaluation"], f"stages.{stage.name}", offset[0] + fitted["epochs"])
        current.end_stage(stage)
        if run_dir.is_chief:
            run_dir.remove_own(f"checkpoints/{backup_folder(stage.name)}")
    return state.results, state.fit_seconds, state.train_steps


def _load_stage(model: Any, weights_file: Path, stage: str) -> bool:
    """Load a completed stage's weights; on a missing or corrupt file, say so and return False."""
    with strategy_scope(model):  # new optimizer slots belong to the model's strategy
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # the file holds the optimizer's slots too
        try:
            model.load_weights(weights_file)
        except Exception as err:  # noqa: BLE001 - h5py and Keras raise several types for a bad file
            problem = "is missing" if not weights_file.exists() else f"is corrupt ({type(err).__name__}: {err})"
            print(f"kerasopt: note: {weights_file} {problem}; stage {stage!r} and the stages after it "
                  "are trained again.", file=sys.stderr)
            return False
    return True
