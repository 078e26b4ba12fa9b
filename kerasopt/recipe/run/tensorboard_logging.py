"""What every run writes to TensorBoard at its end: the recipe as text, hparams, final metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested recipe data into `a.b.c` keys with scalar values (lists become strings)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(data, list):
        out[prefix[:-1]] = str(data)
    elif data is not None:
        out[prefix[:-1]] = data
    return out


# What users compare across runs in the HParams dashboard (flattened key prefixes).
HPARAM_PREFIXES = (
    "seed", "data.source", "data.batch_size", "data.normalization", "data.augmentation",
    "model.architecture", "model.units", "model.filters", "model.activation", "model.dropout",
    "model.normalization", "model.kernel_initializer", "model.l1", "model.l2",
    "training.epochs", "training.steps", "training.optimizer", "compression",
)


def run_hparams(resolved: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The hyperparameters of a run worth comparing: optimizer, learning rate, batch size,
    architecture, length, compression; per stage as `stages.<name>.<key>`.

    Descriptions, file paths, runtime and export settings are left out.
    """
    flat = {k: v for k, v in flatten(resolved).items()
            if any(k == p or k.startswith(p + ".") for p in HPARAM_PREFIXES)}
    for stage in resolved.get("stages") or []:
        own = {"epochs": stage.get("epochs"), "steps": stage.get("steps"),
               "training": stage.get("training"), "compression": stage.get("compression")}
        for key, value in flatten(own).items():
            if key.split(".")[0] in ("epochs", "steps", "compression") or key.startswith("training.optimizer"):
                flat[f"stages.{stage['name']}.{key}"] = value
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flat.items()}


def write_run_summaries(log_dir: Path, recipe_yaml: str, resolved: dict[str, Any],
                        final_metrics: dict[str, float], run_name: str) -> None:
    """Write the recipe as text, the hparams of the run and its final metrics to TensorBoard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(log_dir))
    hparams = run_hparams(resolved)
    with writer.as_default():
        tf.summary.text("recipe", f"```yaml\n{recipe_yaml}\n```", step=0)
        hp.hparams(hparams, trial_id=run_name)
        for key, value in final_metrics.items():
            tf.summary.scalar(f"final/{key}", value, step=0)
    writer.flush()
    writer.close()
