"""Callbacks the runner adds to every stage: weight norms, an exact step limit, sparse backups, TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np


class WeightNormLogger(keras.callbacks.Callback):
    """Log the L2 norm of each layer's weights at the end of every epoch.

    Args:
        log_dir: TensorBoard folder; scalars go to `<log_dir>/train` as `weight_norm/<layer>`.
        initial_epoch: Added to the epoch index (stages continue one curve). Defaults to `0`.
    """

    def __init__(self, log_dir: str, initial_epoch: int = 0) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.initial_epoch = initial_epoch
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "train"))
        with self._writer.as_default(), tf.summary.record_if(True):
            for layer in self.model.layers:
                weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in layer.trainable_weights]
                if weights:
                    norm = float(np.sqrt(sum(np.vdot(w, w) for w in weights)))
                    tf.summary.scalar(f"weight_norm/{layer.name}", norm, step=epoch + self.initial_epoch)
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

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Counting at batch begin keeps Keras's batch-end hooks asynchronous; the flag set
        # before the last allowed batch stops `fit` right after it.
        self._done += 1
        if self._done >= self.steps:
            self.model.stop_training = True


class EpochBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that saves every `every_epochs` epochs, so a long run of short
    epochs is not slowed by a checkpoint per epoch. Its batch hook does nothing, so Keras may
    run batch-end hooks asynchronously.

    Args:
        backup_dir: Where the backup lives (deleted when `fit` ends normally).
        every_epochs: Save after every this many epochs. Defaults to `1`.
    """

    async_safe = True

    def __init__(self, backup_dir: str, every_epochs: int = 1) -> None:
        super().__init__(backup_dir, save_freq="epoch")
        self.every_epochs = every_epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self._current_epoch % self.every_epochs == 0:
            self._save_model()


def runner_callbacks(board: Any, plan: Any, run_dir: Any, stage: str, log_dir: str | None,
                     offset: tuple[int, int] = (0, 0)) -> list[Any]:
    """The callbacks every stage gets from the runner itself.

    Args:
        board: The recipe's `runtime.tensorboard` settings.
        plan: The stage's :class:`~kerasopt.recipe.assemble.StagePlan`.
        run_dir: The run directory (backups go to its `checkpoints/`), or None.
        stage: The stage's name.
        log_dir: The TensorBoard folder, or None when this process does not log.
        offset: Epochs and steps of the stages before this one, so TensorBoard curves go on
            across stages. Defaults to `(0, 0)`.
    """
    callbacks: list[Any] = []
    if plan.total_steps < plan.epochs * plan.steps_per_epoch:
        callbacks.append(StepLimit(plan.total_steps))
    if run_dir is not None and run_dir.is_chief:
        # About ten backups per stage at most: resuming repeats at most a tenth of the stage.
        callbacks.append(EpochBackup(str(run_dir.checkpoints / f"backup_{stage}"),
                                     every_epochs=max(1, plan.epochs // 10)))
    if log_dir is not None:
        from kerasopt.callbacks.tensorboard import TensorBoard

        callbacks.append(TensorBoard(
            log_dir=log_dir, update_freq=board.update_freq, histogram_freq=board.histogram_freq,
            write_graph=False, initial_epoch=offset[0], initial_step=offset[1]))
        if board.weight_norms:
            callbacks.append(WeightNormLogger(log_dir, initial_epoch=offset[0]))
    return callbacks
