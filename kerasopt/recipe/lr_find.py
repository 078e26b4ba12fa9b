"""`kerasopt lr-find`: the LR range test on a recipe's model and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerasopt.recipe.loader import LoadedRecipe


def lr_find(loaded: LoadedRecipe, *, output_dir: str | None = None, **finder_args: Any) -> Any:
    """Sweep the learning rate on the recipe's first stage; print the suggestion; write a plot.

    Args:
        loaded: The recipe.
        output_dir: Where `lr_find.png` goes. Defaults to `saved_models/<name>/lr_find/`.
        **finder_args: `LRFinder` arguments (`min_lr`, `max_lr`, `num_steps`...).

    Returns:
        The `LRFinder` after its sweep (`suggestion`, `lrs`, `losses`).
    """
    from kerasopt.callbacks.lr_finder import find_learning_rate
    from kerasopt.recipe.run_context import Run

    recipe = loaded.recipe
    folder = Path(output_dir or Path("saved_models") / recipe.name / "lr_find")
    with Run(loaded).open() as current:
        current.build()
        first = current.stages[0]
        current.start_stage(first)
        current.compile(first)
        folder.mkdir(parents=True, exist_ok=True)
        plot = folder / "lr_find.png"
        finder = find_learning_rate(current.model, current.data.train, plot_path=str(plot), **finder_args)
    print(f"suggested learning_rate: {finder.suggestion:.4g}")
    print(f"  steepest descent: {finder.suggestion_steepest:.4g}   minimum loss / 10: "
          f"{finder.suggestion_min_div10:.4g}")
    print(f"  plot: {plot}")
    print(f"  use it: kerasopt run {loaded.path} training.optimizer.learning_rate={finder.suggestion:.3g}")
    return finder
