"""`kerasopt compare`: a table and plots of several run directories, as Markdown or one HTML page."""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerasopt.report import plots
from kerasopt.report.html_page import html_page
from kerasopt.report.pareto import ParetoFront
from kerasopt.report.run_record import RunRecord

_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "crossentropy")
FIGURES = (("pareto", "Pareto front"), ("curves", "Loss and metric per epoch"), ("learning_rate", "Learning rate"),
           ("tflite", "TFLite accuracy against size"), ("params", "Metric against trial parameters"))


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of a metric are better (losses and errors).

    Example:
        >>> lower_is_better("loss"), lower_is_better("accuracy")
        (True, False)
    """
    return any(metric.lower().endswith(s) for s in _LOWER_IS_BETTER)


class Comparison:
    """Runs side by side: final and best metrics, size, speed, sweep params, and plots.

    Args:
        run_dirs: Run directories (each with the metrics.json `kerasopt run` writes).
        metric: The metric compared besides the loss (`accuracy`, `mae`; a `val_`/`test_`
            prefix is dropped). Defaults to `None` (`accuracy` when the runs have it, else the
            first other metric of the validation split).
        pareto: The front of a multi-objective sweep over these runs, listed in its own
            table and drawn. Defaults to `None`.

    Raises:
        NotARunError: Naming every directory that is not a run directory.
    """

    def __init__(self, run_dirs: Sequence[str | Path], metric: str | None = None,
                 pareto: ParetoFront | None = None) -> None:
        if not run_dirs:
            raise ValueError("`run_dirs` must name at least one run directory. Received: run_dirs=[]")
        self.records = RunRecord.load_all(run_dirs)
        if metric is not None:
            metric = metric.removeprefix("val_").removeprefix("test_")
        self.metric = metric or self._default_metric()
        names = [r.name for r in self.records]
        self.names = [n if names.count(n) == 1 else f"{r.path.resolve().parent.name}/{n}"
                      for n, r in zip(names, self.records, strict=True)]
        self.param_keys = list(dict.fromkeys(k for r in self.records for k in r.params))
        self.pareto = pareto

    def _default_metric(self) -> str:
        found = [k for r in self.records for k in ((r.metrics.get("evaluation") or {}).get("validation") or {})]
        if "accuracy" in found or not found:
            return "accuracy"
        return next((k for k in found if k != "loss"), "loss")

    def columns(self) -> list[tuple[str, str]]:
        """(header, number format) of every table column after the run name."""
        out: list[tuple[str, str]] = []
        if any(r.trial for r in self.records):
            out += [("state", "s")] + [(key, "v") for key in self.param_keys]
        for name in dict.fromkeys([self.metric, "loss"]):
            out += [(f"test {name}", ".4f"), (f"val {name}", ".4f"), (f"best val {name}", ".4f")]
        out += [("model params", "d"), ("step ms", ".3f"), ("keras bytes", "d"), ("tflite bytes", "d"),
                ("tflite gzip bytes", "d"), ("tflite accuracy", ".4f"), ("tflite latency us", ".1f"),
                ("tflite speedup", ".2f")]
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One dict per run: `run` and every column's raw value (None when absent)."""
        out = []
        for name, record in zip(self.names, self.records, strict=True):
            row: dict[str, Any] = {"run": name}
            if any(r.trial for r in self.records):
                row["state"] = (record.trial or {}).get("state", "run")
                row.update({key: record.params.get(key) for key in self.param_keys})
            for metric in dict.fromkeys([self.metric, "loss"]):
                row[f"test {metric}"] = record.evaluation("test", metric)
                row[f"val {metric}"] = record.evaluation("validation", metric)
                row[f"best val {metric}"] = record.best(f"val_{metric}", lower_is_better(metric))
            step = record.step_time()
            row.update({
                "model params": record.metrics.get("params"),
                "step ms": step * 1000 if step is not None else None,
                "keras bytes": record.export("keras", "bytes"),
                "tflite bytes": record.export("tflite", "bytes"),
                "tflite gzip bytes": record.export("tflite", "gzip_bytes"),
                "tflite accuracy": record.export("tflite", "accuracy"),
                "tflite latency us": record.export("tflite", "latency_us"),
                "tflite speedup": record.export("tflite", "speedup"),
            })
            out.append(row)
        return out

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and formatted cells; columns that no run has are left out; best first."""
        columns = self.columns()
        rows = self.rows()
        key = f"val {self.metric}"
        sign = 1 if lower_is_better(self.metric) else -1
        rows.sort(key=lambda r: (r[key] is None, sign * r[key] if r[key] is not None else 0))
        kept = [(h, f) for h, f in columns if any(r.get(h) is not None for r in rows)]
        headers = ["run", *(h for h, _ in kept)]
        return headers, [[r["run"], *(_format(r.get(h), f) for h, f in kept)] for r in rows]

    @functools.cached_property
    def figures(self) -> dict[str, bytes]:
        """PNG bytes of every figure that has data, by name (`curves`, `learning_rate`, `tflite`, `params`)."""
        drawn = {
            "curves": plots.curves(self.records, self.metric),
            "learning_rate": plots.learning_rates(
                [(n, *r.learning_rate()) for n, r in zip(self.names, self.records, strict=True)]),
            "tflite": plots.accuracy_vs_size(self.records),
            "params": plots.metric_vs_params(self.records, self.metric),
            "pareto": plots.pareto_front(self.pareto) if self.pareto and self.pareto.values else None,
        }
        return {name: png for name, png in drawn.items() if png is not None}

    def pareto_table(self) -> tuple[list[str], list[list[str]]] | None:
        """Headers and formatted cells of the Pareto front (None without a multi-objective sweep)."""
        if self.pareto is None:
            return None
        by_name = {r.name: r.params for r in self.records}
        headers, rows = self.pareto.table(by_name)
        return headers, [[_format(c, "v") for c in row] for row in rows]

    def markdown(self, image_prefix: str | None = None) -> str:
        """The report as Markdown; figures are referenced as `<image_prefix>_<name>.png` files."""
        lines = [f"# Comparison of {len(self.records)} runs", ""]
        front = self.pareto_table()
        if front is not None:
            lines += [f"## Pareto front ({len(front[1])} of {len(self.pareto.values)} complete trials)", "",
                      *_markdown_table(*front), "", "## All runs", ""]
        lines += _markdown_table(*self.table())
        if image_prefix is not None:
            for name, title in FIGURES:
                if name in self.figures:
                    lines += ["", f"## {title}", "", f"![{title}]({image_prefix}_{name}.png)"]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """The report as one self-contained HTML page (figures embedded as data URIs)."""
        headers, cells = self.table()
        figures = [(title, self.figures[name]) for name, title in FIGURES if name in self.figures]
        front = self.pareto_table()
        before = [] if front is None else [
            (f"Pareto front ({len(front[1])} of {len(self.pareto.values)} complete trials)", *front)]
        return html_page(f"Comparison of {len(self.records)} runs", headers, cells, figures,
                         sources=[html.escape(str(r.path)) for r in self.records], tables=before)

    def write(self, path: str | Path) -> Path:
        """Write `.html` (self-contained) or `.md` (with its PNGs beside it); returns the path.

        Raises:
            ValueError: For any other suffix.
        """
        from kerasopt.atomic import atomic_target

        path = Path(path)
        if path.suffix not in (".html", ".htm", ".md"):
            raise ValueError(f"the report must be a .html or .md file. Received: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".md":
            for name, png in self.figures.items():
                with atomic_target(path.with_name(f"{path.stem}_{name}.png")) as tmp:
                    tmp.write_bytes(png)
            text = self.markdown(image_prefix=path.stem)
        else:
            text = self.html()
        with atomic_target(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path


def _markdown_table(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]


def _format(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if spec == "d":
        return str(int(value))
    if spec in ("s", "v"):
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return format(value, spec)
