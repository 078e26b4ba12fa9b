"""`kerasopt lr-find`: the LR range test on a recipe's model and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerasopt.recipe.check.loader import LoadedRecipe


def lr_find(loaded: LoadedRecipe, *, output_dir: str | None = None, **finder_args: Any) -> Any:
    """Sweep the learning rate on the recipe's first stage; print the suggestion; write a plot.

    Args:
        loaded: The recipe.
        output_dir: Where `lr_find.png` goes. Defaults to `saved_models/<name>/lr_find/`.
        **finder_args: `LRFinder` arguments (`min_lr`, `max_lr`, `num_steps`...).

    Returns:
        The `LRFinder` after its sweep (`suggestion`, `lrs`, `losses`).

    Raises:
        RunFailed: When the sweep gives no suggestion (`LRFinder.no_suggestion_reason`).
    """
    from kerasopt.recipe.run.run_context import Run

    recipe = loaded.recipe
    folder = Path(output_dir or Path("saved_models") / recipe.name / "lr_find")
    with Run(loaded).open() as current:
        current.build()
        first = current.stages[0]
        current.start_stage(first)
        current.compile(first)
        folder.mkdir(parents=True, exist_ok=True)
        plot = folder / "lr_find.png"
        finder = current.find_learning_rate(str(plot), **finder_args)
    if finder.suggestion is None:
        from kerasopt.recipe.errors import RunFailed

        raise RunFailed(f"{finder.no_suggestion_reason} (plot: {plot})")
    steepest = finder.suggestion_steepest
    print(f"suggested learning_rate: {finder.suggestion:.4g}")
    print(f"  steepest descent: {'none' if steepest is None else format(steepest, '.4g')}   "
          f"minimum loss / 10: {finder.suggestion_min_div10:.4g}")
    print(f"  plot: {plot}")
    key, schedule = learning_rate_key(loaded)
    if finder.note is not None:
        print(f"  note: {finder.note}")
    if schedule is None:
        print(f"  use it: kerasopt run {loaded.path} {key}={finder.suggestion:.3g}")
    else:
        print(f"  use it: set the peak rate of the schedule at `{key}` ({schedule}) to "
              f"{finder.suggestion:.3g}")
    return finder


def learning_rate_key(loaded: LoadedRecipe) -> tuple[str, str | None]:
    """The override key of the first stage's learning rate, and the schedule's name if it is one.

    Wrapper optimizers (`Lookahead`, `SWA`...) hold the rate in their inner `optimizer`, so
    for `Lookahead(RAdam)` the key is `training.optimizer.optimizer.learning_rate`.
    """
    raw = loaded.raw
    first_stage = (raw.get("stages") or [{}])[0]
    own = isinstance(first_stage.get("training"), dict) and "optimizer" in first_stage["training"]
    parts = ["stages", "0", "training", "optimizer"] if own else ["training", "optimizer"]
    from kerasopt.recipe.run.run_context import Run

    spec: object = Run(loaded).stages[0].training.optimizer
    while isinstance(spec, dict) and isinstance(spec.get("optimizer"), (dict, str)):
        parts.append("optimizer")
        inner = spec["optimizer"]
        spec = inner if isinstance(inner, dict) else {"type": inner}
    parts.append("learning_rate")
    rate = spec.get("learning_rate") if isinstance(spec, dict) else None
    schedule = rate.get("type") if isinstance(rate, dict) else None
    return ".".join(parts), schedule
