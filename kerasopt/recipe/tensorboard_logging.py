"""What every run writes to TensorBoard beyond Keras's scalars: weight norms, the recipe, hparams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras


class WeightNormLogger(keras.callbacks.Callback):
    """Log the L2 norm of each layer's weights at the end of every epoch.

    Args:
        log_dir: TensorBoard folder; scalars go to `<log_dir>/train` as `weight_norm/<layer>`.
    """

    def __init__(self, log_dir: str) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "train"))
        with self._writer.as_default(), tf.summary.record_if(True):
            for layer in self.model.layers:
                weights = layer.trainable_weights
                if weights:
                    squares = sum(float(keras.ops.sum(keras.ops.square(w))) for w in weights)
                    tf.summary.scalar(f"weight_norm/{layer.name}", squares ** 0.5, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class StepLimit(keras.callbacks.Callback):
    """Stop `fit` after exactly `steps` optimizer steps (for recipes that give `training.steps`)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self._done = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._done = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._done += 1
        if self._done >= self.steps:
            self.model.stop_training = True


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
