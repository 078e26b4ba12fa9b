"""PNG plot of an LR range test (matplotlib with the Agg backend, imported lazily)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from kerasopt.atomic import atomic_target


def plot_lr_sweep(
    path: str | os.PathLike[str],
    lrs: Sequence[float],
    losses: Sequence[float],
    marks: dict[str, float | None],
) -> None:
    """Write smoothed loss versus learning rate (log x axis), one vertical line per mark.

    The file is written atomically: to a temporary name first, then renamed.

    Args:
        path: Output `.png` file; its folder is created if missing.
        lrs: Learning rates of the sweep.
        losses: Smoothed losses, one per learning rate.
        marks: Label -> learning rate to mark (None marks nothing).
    """
    # The Agg canvas is attached to this one figure: the process-wide pyplot backend
    # is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(lrs, losses, color="tab:blue", label="smoothed loss")
    colors = ("tab:red", "tab:green", "tab:purple")
    for (label, lr), color in zip(marks.items(), colors, strict=False):
        if lr is not None:
            axes.axvline(lr, color=color, linestyle="--", label=f"{label} = {lr:.3g}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (smoothed, bias corrected)")
    axes.set_title("LR range test")
    axes.legend(loc="best")
    figure.tight_layout()
    with atomic_target(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
