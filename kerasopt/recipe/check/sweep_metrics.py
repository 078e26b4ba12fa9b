"""The metrics a recipe's runs can write, and the sweep objectives that name one they cannot.

A sweep reads each objective from a trial's metrics.json (see
:func:`kerasopt.sweep.trial_objective.metric_value`): `val_<m>` and `test_<m>` from
`evaluation.validation` / `evaluation.test` (the loss and the compiled metrics, named as
the recipe writes them), `exports.<file>.<key>` from the exports the recipe configures, and
`params`. An objective no trial can produce is refused before the first trial trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kerasopt.data.catalog import get_source
from kerasopt.data.output_spec import task_for_loss
from kerasopt.data.streaming_source import StreamingSource
from kerasopt.recipe.errors import Path, Problem, did_you_mean
from kerasopt.recipe.format.schema import Recipe
from kerasopt.recipe.format.stages import resolve_stages

_VERIFIED = ("accuracy", "max_abs_diff", "samples", "agreement", "mse", "keras_accuracy")
"""A verified TFLite or ONNX file's numbers (export/output_check.py, recipe/run/session.py)."""
_PROFILED = ("latency_us", "activation_bytes", "constant_bytes")
"""A verified TFLite file's profile (export/tflite_profile.py); `speedup` when a float baseline is timed too."""
DEFAULT_METRICS = {"classification": ("accuracy",), "regression": ("mae",)}
"""The metrics compiled when no stage sets `training.metrics` (data/output_spec.py: `keras_metrics`)."""


def evaluated_names(recipe: Recipe, raw: dict[str, Any]) -> list[str]:
    """The names of `evaluation.validation` / `.test` in the run's metrics.json: the loss and the
    compiled metrics (as written, or their `name:`), of every stage."""
    names = ["loss"]
    for stage in resolve_stages(recipe, raw):
        training = stage.training
        if training.metrics is None:
            task = recipe.data.task if getattr(recipe.data, "task", "auto") != "auto" else task_for_loss(training.loss)
            names += [m for t in ([task] if task else DEFAULT_METRICS) for m in DEFAULT_METRICS[t]]
            continue
        for spec in training.metrics:
            names.append(str(spec.get("name", spec["type"])) if isinstance(spec, dict) else str(spec))
    return list(dict.fromkeys(names))


def has_validation(recipe: Recipe) -> bool:
    """Whether the recipe's runs hold out a validation split (and so write `evaluation.validation`).

    An in-memory source holds out `data.validation_split` of its training data; a streaming
    source validates on its own files (`validation_files`, `validation_directory`) or not at all.
    """
    section = recipe.data
    if issubclass(get_source(section.source), StreamingSource):
        return any(key.startswith("validation_") and value is not None
                   for key, value in section.source_options().items())
    return section.validation_split > 0


def export_keys(recipe: Recipe, raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The numeric keys of each `exports.<file>` entry the recipe's runs write."""
    export = recipe.export
    compresses = any(s.compression.weight_techniques() for s in resolve_stages(recipe, raw))
    files: dict[str, tuple[str, ...]] = {}
    if export.keras:
        files["keras"] = ("bytes",)
        if compresses:
            files["keras_float"] = ("bytes",)
    if export.saved_model:
        files["saved_model"] = ("bytes",)
    tflite = export.tflite
    if tflite is not None:
        checked = (*_VERIFIED, *_PROFILED) if tflite.verify else ()
        baseline = (tflite.quantization != "none" or compresses) and tflite.float_baseline
        files["tflite"] = ("bytes", "gzip_bytes", *checked, *(("speedup",) if baseline and checked else ()))
        if baseline:
            files["tflite_float"] = ("bytes", "gzip_bytes", *checked)
    if export.onnx:
        files["onnx"] = ("bytes", "opset", *_VERIFIED)
    return files


def producible_metrics(recipe: Recipe, raw: dict[str, Any]) -> list[str]:
    """Every sweep objective a run of the recipe writes to metrics.json.

    Example:
        `val_loss, val_accuracy, test_loss, test_accuracy, exports.keras.bytes, params` for a
        classifier exported as `.keras` only.
    """
    names = evaluated_names(recipe, raw)
    files = export_keys(recipe, raw)
    splits = ("val", "test") if has_validation(recipe) else ("test",)
    return ([f"{split}_{n}" for split in splits for n in names]
            + [f"exports.{f}.{k}" for f, keys in files.items() for k in keys] + ["params"])


def objective_problems(recipe: Recipe, raw: dict[str, Any],
                       objectives: Sequence[tuple[Path, Any]]) -> list[Problem]:
    """A problem for each objective metric no run of the recipe writes, and each one named twice.

    Args:
        recipe: The validated recipe.
        raw: The data it was validated from.
        objectives: (key path, metric name) of each objective, in order.
    """
    producible = producible_metrics(recipe, raw)
    files = export_keys(recipe, raw)
    names = evaluated_names(recipe, raw)
    validated = has_validation(recipe)
    splits = "val_<m> or test_<m>" if validated else "test_<m>"
    allowed = "; ".join([f"{splits} for m in {', '.join(names)}",
                         *(f"exports.{f}.<{', '.join(keys)}>" for f, keys in files.items()), "params"])
    problems = []
    seen: dict[Any, int] = {}
    for index, (path, metric) in enumerate(objectives):
        if not isinstance(metric, str):
            continue  # the schema reports a metric that is not a name
        if metric in seen:
            problems.append(Problem(path, f"objective {seen[metric]} already optimizes {metric!r}; each "
                                    "objective must be a different metric", metric,
                                    "a metric no other objective names"))
            continue
        seen[metric] = index
        if metric in producible:
            continue
        head, _, rest = metric.partition(".")
        name, _, key = rest.partition(".")
        if head == "exports" and name not in files:
            setting = {"keras_float": "export.keras with a compression stage",
                       "tflite_float": "export.tflite with a quantization or a compression stage "
                                       "(and float_baseline: true)",
                       "tflite": "export.tflite set (in the recipe, or an override such as "
                                 "export.tflite.quantization=int8)"}.get(name, f"export.{name}: true")
            message = f"no run of this recipe writes exports.{name}: it needs {setting}"
        elif head == "exports":
            message = f"exports.{name} has no number {key!r} in metrics.json"
            problems.append(Problem(path, message, metric, [f"exports.{name}.{k}" for k in files[name]],
                                    suggestions=did_you_mean(metric, producible)))
            continue
        elif metric.startswith("val_") and not validated and f"test_{metric[4:]}" in producible:
            problems.append(Problem(path, "no run of this recipe has a validation split to measure it on",
                                    metric, f"data.validation_split > 0 (or the source's validation files), "
                                    f"or the test split's test_{metric[4:]}"))
            continue
        else:
            message = "no run of this recipe writes this metric to metrics.json (the loss and the " \
                      "compiled training.metrics, as val_<name> and test_<name>)"
        problems.append(Problem(path, message, metric, allowed,
                                suggestions=did_you_mean(metric, producible)))
    return problems


def sweep_section_problems(recipe: Recipe, raw: dict[str, Any]) -> list[Problem]:
    """:func:`objective_problems` of the recipe's `sweep:` section (none without one)."""
    section = recipe.sweep
    if section is None:
        return []
    if section.objectives is None:
        return objective_problems(recipe, raw, [(("sweep", "metric"), section.metric)])
    return objective_problems(recipe, raw, [(("sweep", "objectives", i, "metric"), o.metric)
                                            for i, o in enumerate(section.objectives)])
