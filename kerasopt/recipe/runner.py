"""`kerasopt run`: one straight line from a validated recipe to a run directory.

load+validate recipe -> resolve components -> build data -> build model -> for each stage:
compile, fit (callbacks) -> evaluate -> export (+verify) -> write metrics.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kerasopt.recipe.loader import LoadedRecipe
from kerasopt.recipe.run_dir import RunDirectory
from kerasopt.recipe.schema import Recipe
from kerasopt.recipe.schema_training import Training
from kerasopt.recipe.validate import merged_stage_training


def run(loaded: LoadedRecipe, *, output_dir: str | None = None, resume: bool = False) -> dict[str, Any]:
    """Run a validated recipe and return what was written to `metrics.json`.

    Args:
        loaded: The recipe, from :func:`kerasopt.recipe.loader.load_recipe`.
        output_dir: The run directory. Defaults to `saved_models/<recipe name>/`.
        resume: Continue from the run directory's checkpoints (completed stages are skipped,
            an interrupted stage resumes from its last epoch).

    Returns:
        The metrics written to `metrics.json`.
    """
    from kerasopt.recipe import session

    recipe = loaded.recipe
    run_dir = RunDirectory(output_dir or Path("saved_models") / recipe.name)
    placement = session.start(recipe.runtime, recipe.seed)
    try:
        data = session.build_data(recipe)
        with placement.strategy.scope():
            model = session.build_model(recipe, data)
        search: dict[str, Any] | None = None
        if recipe.data.batch_size == "auto":
            first_training = stage_list(recipe, loaded.raw)[0][1]
            search = session.search_batch_size(recipe, first_training, model, data, placement)
            data = session.build_data(recipe, batch_size=search["batch_size"])
        run_dir.prepare(resume=resume)
        run_dir.write_text("recipe.yaml", loaded.resolved_yaml())
        stages, fit_seconds, train_steps = _train(recipe, loaded, model, data, placement, run_dir,
                                                  resume, search["lr_factor"] if search else 1.0)
        metrics: dict[str, Any] = {
            "recipe": recipe.name,
            "params": int(model.count_params()),
            "sparsity": session.sparsity(model),
            "runtime": placement.describe(),
            "timing": {"fit_seconds": fit_seconds, "train_steps": train_steps},
            "evaluation": session.evaluate(model, data),
            "stages": stages,
            "exports": {},
        }
        if search is not None:
            metrics["batch_size_search"] = search
        run_dir.write_json("metrics.json", metrics)  # complete except exports, in case export fails
        metrics["exports"] = session.export(recipe, model, data, run_dir)
        run_dir.write_json("metrics.json", metrics)
        if recipe.runtime.tensorboard.enabled and run_dir.is_chief:
            from kerasopt.recipe.tensorboard_logging import flatten, write_run_summaries

            final = {k: v for k, v in flatten(metrics["evaluation"]).items() if isinstance(v, float)}
            write_run_summaries(run_dir.logs, loaded.resolved_yaml(), loaded.resolved(), final, recipe.name)
        if recipe.runtime.verbose:
            from kerasopt.recipe.summary import print_summary

            print_summary(metrics, run_dir.root)
        return metrics
    finally:
        session.finish()


def stage_list(recipe: Recipe, raw: dict[str, Any]) -> list[tuple[str, Training, Any]]:
    """The stages to run: `(name, training settings in force, stage or None)`."""
    if not recipe.stages:
        return [("train", recipe.training, None)]
    top = raw.get("training") or {}
    stages = []
    for index, stage in enumerate(recipe.stages):
        raw_stage = raw["stages"][index]
        stages.append((stage.name, Training.model_validate(merged_stage_training(top, raw_stage)), stage))
    return stages


def _train(recipe: Recipe, loaded: LoadedRecipe, model: Any, data: Any, placement: Any,
           run_dir: RunDirectory, resume: bool,
           lr_factor: float) -> tuple[list[dict[str, Any]], float, int]:
    from kerasopt.recipe import session

    progress = (run_dir.read_json("checkpoints/progress.json") if resume else None) or {"completed": []}
    results: list[dict[str, Any]] = list(progress.get("results", []))
    fit_seconds = float(progress.get("fit_seconds", 0.0))
    train_steps = int(progress.get("train_steps", 0))
    for index, (name, training, stage) in enumerate(stage_list(recipe, loaded.raw)):
        weights_file = run_dir.checkpoints / f"stage_{index}_{name}.weights.h5"
        if name in progress["completed"] and weights_file.exists():
            session.compile_stage(training, model, data, placement, lr_factor)  # for evaluation
            model.load_weights(weights_file)
            continue
        if stage is not None and (stage.freeze or stage.unfreeze):
            from kerasopt.models.transfer import set_trainable

            set_trainable(model, freeze=stage.freeze, unfreeze=stage.unfreeze)
        started = time.perf_counter()
        history, steps, epochs = session.fit_stage(recipe, name, training, model, data, placement, run_dir,
                                           lr_factor)
        fit_seconds += time.perf_counter() - started
        train_steps += steps
        results.append({
            "name": name,
            "epochs": epochs,
            "steps": steps,
            "history": history,
            "evaluation": session.evaluate(model, data, splits=("validation",)),
        })
        if run_dir.is_chief:
            run_dir.save_weights(model, f"checkpoints/{weights_file.name}")
            progress = {"completed": [*progress["completed"], name], "results": results,
                        "fit_seconds": fit_seconds, "train_steps": train_steps}
            run_dir.write_json("checkpoints/progress.json", progress)
    return results, fit_seconds, train_steps
