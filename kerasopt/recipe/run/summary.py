"""The table printed at the end of `kerasopt run`: metrics, export sizes, where the files are."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _size(num_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes} B"


def summary_lines(metrics: dict[str, Any], root: Path) -> list[str]:
    """The summary as lines of text."""
    lines = [f"kerasopt: run {metrics['recipe']!r} finished in {metrics['timing']['fit_seconds']:.1f} s "
             f"of training ({metrics['timing']['train_steps']} steps, {metrics['params']:,} parameters, "
             f"{metrics['runtime']['device']}/{metrics['runtime']['strategy']})"]
    evaluation = metrics["evaluation"]
    rows = {split: values for split, values in evaluation.items() if split in ("validation", "test")}
    if "last" in evaluation:  # the best epoch's weights were restored: show the final ones too
        rows.update({f"{split} (last)": values for split, values in evaluation["last"].items()})
    names = sorted({k for values in rows.values() for k in values})
    if names:
        lines.append("")
        if "best_epoch" in evaluation:
            lines.append(f"  weights of the best epoch ({evaluation['best_epoch']}) by the monitored "
                         "validation value (training.restore_best); '(last)': the last epoch's")
        lines.append(f"  {'split':<19}" + "".join(f"{n:>14}" for n in names))
        for split, values in rows.items():
            lines.append(f"  {split:<19}" + "".join(
                f"{values[n]:>14.4f}" if isinstance(values.get(n), float) else f"{'-':>14}" for n in names))
    if metrics["exports"]:
        lines.append("")
        lines.append(f"  {'export':<14}{'size':>12}{'gzip':>12}{'accuracy':>10}{'max diff':>11}  path")
        for key, info in metrics["exports"].items():
            gz = _size(info["gzip_bytes"]) if "gzip_bytes" in info else "-"
            acc = info.get("accuracy")
            acc_text = f"{acc:.4f}" if isinstance(acc, float) else "-"
            diff = info.get("max_abs_diff")
            diff_text = f"{diff:.2e}" if isinstance(diff, float) else "-"
            lines.append(f"  {key:<14}{_size(info['bytes']):>12}{gz:>12}{acc_text:>10}{diff_text:>11}  "
                         f"{info['path']}")
    lines.append("")
    lines.append(f"  run directory: {root}   (metrics.json, recipe.yaml, logs/ for TensorBoard)")
    lines.append(f"  watch it with: kerasopt tensorboard {root / 'logs'}")
    return lines


def print_summary(metrics: dict[str, Any], root: Path) -> None:
    """Print the summary table to stdout."""
    print("\n".join(summary_lines(metrics, root)))
