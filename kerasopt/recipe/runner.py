"""`kerasopt run`: one straight line from a validated recipe to a run directory.

load+validate recipe -> build data and model -> for each stage: start (techniques), compile,
fit (callbacks), after fit -> before export (techniques) -> evaluate -> export (+verify) ->
write metrics.json.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerasopt.recipe.loader import LoadedRecipe
from kerasopt.recipe.run_context import Run
from kerasopt.recipe.run_dir import RunDirectory


def run(loaded: LoadedRecipe, *, output_dir: str | None = None, resume: bool = False,
        callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Run a validated recipe and return what was written to `metrics.json`.

    Args:
        loaded: The recipe, from :func:`kerasopt.recipe.loader.load_recipe`.
        output_dir: The run directory. Defaults to `saved_models/<recipe name>/`.
        resume: Continue from the run directory's checkpoints (completed stages are skipped,
            an interrupted stage resumes from its last epoch).
        callbacks: Further Keras callbacks for every stage's `fit` (a sweep's trial pruner,
            for example). Defaults to `()`.

    Returns:
        The metrics written to `metrics.json`.
    """
    from kerasopt.recipe import session

    recipe = loaded.recipe
    run_dir = RunDirectory(output_dir or Path("saved_models") / recipe.name)
    with Run(loaded, run_dir, callbacks=callbacks).open() as current:
        current.build()
        run_dir.prepare(resume=resume)
        run_dir.write_text("recipe.yaml", loaded.resolved_yaml())
        stages, fit_seconds, train_steps = _train(current, run_dir, resume)
        current.finish_training()
        model, data = current.model, current.data
        metrics: dict[str, Any] = {
            "recipe": recipe.name,
            "params": int(model.count_params()),
            "runtime": current.placement.describe(),
            "timing": {"fit_seconds": fit_seconds, "train_steps": train_steps},
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
        run_dir.write_json("metrics.json", metrics)
        session.check_exports(recipe, metrics)
        if current.log_dir is not None:
            from kerasopt.recipe.tensorboard_logging import flatten, write_run_summaries

            final = {k: v for k, v in flatten(metrics["evaluation"]).items() if isinstance(v, float)}
            write_run_summaries(run_dir.logs, loaded.resolved_yaml(), loaded.resolved(), final, recipe.name)
        if recipe.runtime.verbose:
            from kerasopt.recipe.summary import print_summary

            print_summary(metrics, run_dir.root)
        return metrics


def _evaluation(final: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The final evaluation, with `last` (the final weights') when the best epoch's were restored."""
    if stages and "last" in stages[-1]:
        return {**final, "last": stages[-1]["last"], "best_epoch": stages[-1]["best_epoch"]}
    return final


def _train(current: Run, run_dir: RunDirectory, resume: bool) -> tuple[list[dict[str, Any]], float, int]:
    """Run (or, on resume, restore) every stage; returns the stage results, fit time and steps."""
    from kerasopt.recipe import session

    progress = (run_dir.read_json("checkpoints/progress.json") if resume else None) or {"completed": []}
    results: list[dict[str, Any]] = list(progress.get("results", []))
    fit_seconds = float(progress.get("fit_seconds", 0.0))
    train_steps = int(progress.get("train_steps", 0))
    for stage in current.stages:
        weights_file = run_dir.checkpoints / f"stage_{stage.index}_{stage.name}.weights.h5"
        current.start_stage(stage)
        if stage.name in progress["completed"] and weights_file.exists():
            current.compile(stage)  # for evaluation
            current.model.load_weights(weights_file)
            continue
        started = time.perf_counter()
        offset = (sum(r["epochs"] for r in results), sum(r["steps"] for r in results))
        fitted = current.fit(stage, offset)
        fit_seconds += time.perf_counter() - started
        train_steps += fitted["steps"]
        result = {"name": stage.name, "epochs": fitted["epochs"], "steps": fitted["steps"],
                  "history": fitted["history"],
                  "evaluation": session.evaluate(current.model, current.data, splits=("validation",))}
        if "best_epoch" in fitted:
            result.update(best_epoch=fitted["best_epoch"], last=fitted["last"])
        results.append(result)
        if run_dir.is_chief:
            run_dir.save_weights(current.model, f"checkpoints/{weights_file.name}")
            progress = {"completed": [*progress["completed"], stage.name], "results": results,
                        "fit_seconds": fit_seconds, "train_steps": train_steps}
            run_dir.write_json("checkpoints/progress.json", progress)
    return results, fit_seconds, train_steps
