"""The export gate: what compression and conversion cost in accuracy, and the failure when too much.

`export.tflite.max_accuracy_drop` bounds how far the deployed file's accuracy on the test
split may fall. Without a compression stage the file is compared with the Keras model it was
converted from. When a compression stage ran (pruning, QAT, clustering, distillation, ...),
it is compared with the float model as trained before compression: `exports.tflite_float`
(`model_float.tflite`) when that file holds it, else the Keras evaluation of the stage
before the first compression stage. Both drops go into `metrics.json`
(`exports.tflite.accuracy_drop`), with the accuracy after each step on the way
(`accuracy_path`), so a failure names the stage that lost the accuracy.

`export.tflite.min_speedup` bounds from below how many times faster the deployed file runs
than `model_float.tflite` (`exports.tflite.speedup`, timed in the same interleaved rounds).
"""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.errors import RunFailed

_ADVICE = {
    "pruning": "a lower final sparsity, or pruning over more steps and epochs (polynomial_decay)",
    "qat": "more epochs or a lower learning rate in the QAT stage",
    "channel_pruning": "a lower channel_pruning ratio, or a longer fine-tuning (with distillation) after it",
    "clustering": "more clusters (number_of_clusters) or a longer clustering stage",
    "low_rank": "a higher energy or params_ratio, or a longer fine-tuning stage after factorizing",
    "distillation": "a larger student, a longer distillation stage or another temperature",
}
_CONVERSION_ADVICE = ("quantization-aware training (compression: {qat: true}), more "
                      "export.tflite.representative_samples, or quantization: dynamic / float16")


class ExportCheckError(RunFailed):
    """A verified export whose accuracy fell further than `export.tflite.max_accuracy_drop` allows."""


def stage_techniques(recipe: Any) -> list[tuple[str, list[str], bool]]:
    """Each stage's name, the compression techniques on in it, and whether it builds a new model."""
    top = recipe.compression.active()
    if not recipe.stages:
        return [("train", top, False)]
    return [(stage.name, list(dict.fromkeys([*top, *stage.compression.active()])), stage.model is not None)
            for stage in recipe.stages]


def measure_drops(recipe: Any, metrics: dict[str, Any]) -> None:
    """Add `accuracy_drop` (and, after compression, `accuracy_path`) to the deployed TFLite entry.

    `accuracy_drop.conversion` is the file's accuracy below its Keras model's;
    `accuracy_drop.compression` the file's below the float model before compression (None when
    no compression stage ran, or when no stage trained the model before it).
    """
    info = metrics.get("exports", {}).get("tflite")
    if not info or info.get("accuracy") is None or info.get("keras_accuracy") is None:
        return
    measured = info["accuracy"]
    drop: dict[str, Any] = {"conversion": info["keras_accuracy"] - measured, "compression": None}
    path = _accuracy_path(recipe, metrics)
    if path is not None:
        drop["compression"] = path[0]["accuracy"] - measured
        drop["reference"] = path[0]["step"]
        info["accuracy_path"] = path
    info["accuracy_drop"] = drop


def _accuracy_path(recipe: Any, metrics: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The test accuracy before compression, after each stage from the first compression stage on,
    as exported (Keras) and in the file; None without a trained model before compression."""
    stages = metrics.get("stages") or []
    planned = stage_techniques(recipe)
    first = next((i for i, (_, used, _) in enumerate(planned) if used), None)
    if first is None or first == 0 or len(stages) != len(planned):
        return None
    exports = metrics["exports"]
    info = exports["tflite"]
    before = stages[first - 1]
    floating = exports.get("tflite_float") or {}
    _, used, new_model = planned[first]
    if floating.get("accuracy") is not None and set(used) - {"distillation"} and not new_model:
        # model_float.tflite holds the model as the first compression stage found it.
        path = [{"step": f"before compression ({floating['path']})", "accuracy": floating["accuracy"]}]
    else:
        path = [{"step": f"before compression (stage {before['name']!r}, Keras)",
                 "accuracy": _test_accuracy(before)}]
    for (name, used, _), result in zip(planned[first:], stages[first:], strict=True):
        path.append({"step": f"stage {name!r} ({', '.join(used) or 'no compression'})",
                     "accuracy": _test_accuracy(result), "techniques": used})
    if abs(info["keras_accuracy"] - path[-1]["accuracy"]) > 1e-6:
        path.append({"step": "the Keras model as exported", "accuracy": info["keras_accuracy"]})
    path.append({"step": f"conversion to {info['path']} ({info.get('quantization', '?')})",
                 "accuracy": info["accuracy"], "conversion": True})
    return path if all(entry["accuracy"] is not None for entry in path) else None


def _test_accuracy(stage: dict[str, Any]) -> float | None:
    return ((stage.get("evaluation") or {}).get("test") or {}).get("accuracy")


def check_exports(recipe: Any, metrics: dict[str, Any]) -> None:
    """Fail the run when a verified TFLite file lost more accuracy than `export.tflite.max_accuracy_drop`,
    or runs slower against the float file than `export.tflite.min_speedup` allows.

    The deployed file (`tflite`) is held against the float model before compression when
    :func:`measure_drops` found one; every TFLite file against its own Keras model.

    Raises:
        ExportCheckError: Naming the export, both accuracies, the step that lost the most
            accuracy, and what to try; or the measured speedup and latencies.
    """
    options = recipe.export.tflite
    if options is None:
        return
    allowed = options.max_accuracy_drop
    for key, info in metrics.get("exports", {}).items():
        measured, reference = info.get("accuracy"), info.get("keras_accuracy")
        if not key.startswith("tflite") or measured is None or reference is None:
            continue
        path = info.get("accuracy_path") if key == "tflite" else None
        if path and _beyond(path[0]["accuracy"] - measured, allowed):
            raise ExportCheckError(_compression_failure(info, path, allowed))
        if _beyond(reference - measured, allowed):
            raise ExportCheckError(
                f"export.tflite: {info['path']} ({info.get('quantization', '?')}) reaches "
                f"{measured:.4f} accuracy on the test split, {100 * (reference - measured):.1f} points "
                f"below the Keras model's {reference:.4f}; export.tflite.max_accuracy_drop allows "
                f"{allowed}. Try {_CONVERSION_ADVICE}. The file and the rest of the run directory "
                "are kept.")
    _check_speedup(options.min_speedup, metrics.get("exports", {}))


def _beyond(drop: float, allowed: float) -> bool:
    """Whether an accuracy drop exceeds the allowance, read as the decimals it is written in.

    Accuracies are counts over the test samples, and their differences carry the binary
    fractions' error: 0.974 - 0.964 is 0.010000000000000009, which a plain `>` would hold
    against `max_accuracy_drop: 0.01`. A drop within 1e-9 of the allowance is within it.
    """
    return drop > allowed + 1e-9


def _check_speedup(wanted: float | None, exports: dict[str, Any]) -> None:
    """Fail when model.tflite is less than `export.tflite.min_speedup` times faster than the float file."""
    info = exports.get("tflite") or {}
    if wanted is None or "speedup" not in info:
        return
    if info["speedup"] < wanted:
        floating = exports["tflite_float"]
        raise ExportCheckError(
            f"export.tflite: {info['path']} ({info.get('quantization', '?')}) runs "
            f"{info['speedup']:.2f}x as fast as {floating['path']} ({info['latency_us']:.1f} vs "
            f"{floating['latency_us']:.1f} us median, one thread, batch 1, interleaved rounds); "
            f"export.tflite.min_speedup asks for {wanted}x. Try {_speedup_advice(info)}. Every file "
            "of the run directory is kept.")


def _speedup_advice(info: dict[str, Any]) -> str:
    smaller = "a smaller model (distillation into fewer filters or units)"
    if info.get("quantization") != "int8":
        return f"quantization: int8, or {smaller}"
    if info.get("float_ops"):
        return f"moving the ops left in float ({', '.join(info['float_ops'])}) into the model's int8 part, or {smaller}"
    return smaller


def _compression_failure(info: dict[str, Any], path: list[dict[str, Any]], allowed: float) -> str:
    """The message of a deployed file too far below the float model before compression."""
    measured, start = info["accuracy"], path[0]
    steps = list(zip(path, path[1:], strict=False))
    before, worst = max(steps, key=lambda pair: pair[0]["accuracy"] - pair[1]["accuracy"])
    trail = "; ".join(f"{b['step']} {a['accuracy']:.4f} -> {b['accuracy']:.4f}" for a, b in steps)
    if worst.get("conversion"):
        advice = _CONVERSION_ADVICE
    else:
        advice = "; ".join(_ADVICE[t] for t in worst.get("techniques", ()) if t in _ADVICE)
    return (f"export.tflite: {info['path']} ({info.get('quantization', '?')}) reaches {measured:.4f} "
            f"accuracy on the test split, {100 * (start['accuracy'] - measured):.1f} points below the "
            f"float model {start['step']} at {start['accuracy']:.4f}; export.tflite.max_accuracy_drop "
            f"allows {allowed}. Most was lost in {worst['step']}: {before['accuracy']:.4f} -> "
            f"{worst['accuracy']:.4f} (all steps: {trail}). Try {advice or 'a longer or gentler stage'}, "
            "or raise export.tflite.max_accuracy_drop if this cost is acceptable. Every file of the "
            "run directory is kept.")


def failure(recipe: Any, metrics: dict[str, Any]) -> ExportCheckError | None:
    """Measure the drops (:func:`measure_drops`) and check them (:func:`check_exports`).

    Returns:
        The gate's failure, also recorded as `metrics["failure"]`, or None when it passed.
    """
    measure_drops(recipe, metrics)
    try:
        check_exports(recipe, metrics)
    except ExportCheckError as err:
        metrics["failure"] = {"kind": "export_gate", "message": str(err)}
        return err
    return None
