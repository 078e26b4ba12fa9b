"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from kerasopt.report.pareto import ParetoFront
from kerasopt.report.run_record import RunRecord

MAX_LEGEND = 12


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    _pyplot().close(fig)
    return buffer.getvalue()


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _legend(ax: Any, count: int) -> None:
    if 0 < count <= MAX_LEGEND:
        ax.legend(fontsize=7)


def curves(records: Sequence[RunRecord], metric: str) -> bytes | None:
    """Loss and `metric` per epoch of every run (validation solid, training dashed), stages joined."""
    fig = curves_figure(records, metric)
    return None if fig is None else _png(fig)


def curves_figure(records: Sequence[RunRecord], metric: str) -> Any:
    """The figure of :func:`curves` (a matplotlib `Figure`), or None when no run has the curves.

    Each run is named once in each plot's legend, on its validation curve, or on its
    training curve when it has no validation split.
    """
    plt = _pyplot()
    names = [n for n in dict.fromkeys(["loss", metric]) if n]
    histories = [r.history() for r in records]
    if not any(h.get(n) or h.get(f"val_{n}") for h in histories for n in names):
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[0], names, strict=True):
        drawn = set()
        for index, (record, history) in enumerate(zip(records, histories, strict=True)):
            color = colors[index % len(colors)]
            label: str | None = record.name
            for key, style, kind in ((f"val_{name}", "-", "validation (solid)"),
                                     (name, "--", "training (dashed)")):
                values = history.get(key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, style, color=color, label=label)
                    label = None
                    drawn.add(kind)
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.set_xlabel("epoch (stages joined)")
        ax.set_ylabel(name)
        kinds = [k for k in ("validation (solid)", "training (dashed)") if k in drawn]
        ax.set_title(f"{name}: {', '.join(kinds)}", fontsize=9)
        ax.grid(alpha=0.3)
        _legend(ax, len(records))
    return fig


def learning_rates(series: Sequence[tuple[str, list[float], list[float]]]) -> bytes | None:
    """Learning rate against optimizer steps, one line per run (from TensorBoard logs)."""
    series = [s for s in series if s[1]]
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, steps, rates in series:
        ax.plot(steps, rates, marker=".", label=name)
    ax.set_xlabel("step (end of each epoch)")
    ax.set_ylabel("learning rate")
    if all(r > 0 for _, _, rates in series for r in rates):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    _legend(ax, len(series))
    return _png(fig)


def accuracy_vs_size(records: Sequence[RunRecord]) -> bytes | None:
    """The TFLite file's measured accuracy against its size (and gzip size), for runs with a TFLite export."""
    points = [(r.name, r.export("tflite", "bytes"), r.export("tflite", "gzip_bytes"),
               r.export("tflite", "accuracy")) for r in records]
    points = [p for p in points if p[1] is not None and p[3] is not None]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.scatter([p[1] / 1024 for p in points], [p[3] for p in points], label="file")
    gz = [p for p in points if p[2] is not None]
    if gz:
        ax.scatter([p[2] / 1024 for p in gz], [p[3] for p in gz], marker="x", label="gzip")
    for name, size, _, accuracy in points:
        ax.annotate(name, (size / 1024, accuracy), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("TFLite size (KiB)")
    ax.set_ylabel("TFLite test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def metric_vs_params(records: Sequence[RunRecord], metric: str, split: str = "validation") -> bytes | None:
    """A sweep's final metric against each trial parameter (log axis for ranges over a decade)."""
    keys = list(dict.fromkeys(k for r in records for k in r.params))
    if not keys:
        return None
    plt = _pyplot()
    columns = min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys, strict=False):
        pairs = [(r.params[key], r.evaluation(split, metric)) for r in records if key in r.params]
        pairs = [(x, y) for x, y in pairs if y is not None]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in pairs)
        if numeric and pairs:
            xs = [float(x) for x, _ in pairs]
            ax.scatter(xs, [y for _, y in pairs])
            if min(xs) > 0 and max(xs) / min(xs) >= 10:
                ax.set_xscale("log")
        elif pairs:
            labels = list(dict.fromkeys(str(x) for x, _ in pairs))
            ax.scatter([labels.index(str(x)) for x, _ in pairs], [y for _, y in pairs])
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(f"{'val' if split == 'validation' else split} {metric}")
        ax.grid(alpha=0.3)
    return _png(fig)


def pareto_front(front: ParetoFront) -> bytes:
    """The first two objectives of a multi-objective sweep: every complete trial, the front marked.

    With two objectives the front is joined by its staircase (the edge of the region it
    dominates). With more, its trials are marked in the plane of the first two, where some
    may look dominated: they win in another objective.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    (x_name, x_way), (y_name, y_way) = front.objectives[0], front.objectives[1]
    others = [n for n in front.values if n not in front.front]
    ax.scatter([front.values[n][0] for n in others], [front.values[n][1] for n in others],
               color="#999999", label="other complete trials")
    names = sorted(front.front, key=lambda n: front.values[n][0])
    xs, ys = [front.values[n][0] for n in names], [front.values[n][1] for n in names]
    if len(front.objectives) == 2:
        # Sorted by x, the next point is worse in y: the corner is at the next x when x is
        # minimized (post), at this x when it is maximized (pre).
        ax.plot(xs, ys, "-", color="#d62728", alpha=0.5,
                drawstyle="steps-post" if x_way == "minimize" else "steps-pre")
    ax.scatter(xs, ys, color="#d62728", label="Pareto front", zorder=3)
    for name in names:
        ax.annotate(name, front.values[name][:2], fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{x_name} ({x_way})")
    ax.set_ylabel(f"{y_name} ({y_way})")
    if len(front.objectives) > 2:
        ax.set_title(f"first two of {len(front.objectives)} objectives", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)
