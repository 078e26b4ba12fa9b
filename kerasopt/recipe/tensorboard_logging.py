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


def write_run_summaries(log_dir: Path, recipe_yaml: str, resolved: dict[str, Any],
                        final_metrics: dict[str, float], run_name: str) -> None:
    """Write the recipe as text, the hparams of the run and its final metrics to TensorBoard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(log_dir))
    hparams = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
               for k, v in flatten(resolved).items()}
    with writer.as_default():
        tf.summary.text("recipe", f"```yaml\n{recipe_yaml}\n```", step=0)
        hp.hparams(hparams, trial_id=run_name)
        for key, value in final_metrics.items():
            tf.summary.scalar(f"final/{key}", value, step=0)
    writer.flush()
    writer.close()
