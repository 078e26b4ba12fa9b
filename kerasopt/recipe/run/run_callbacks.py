"""Callbacks the runner adds to every stage: weight norms, an exact step limit, the data epoch,
backups (:class:`~kerasopt.recipe.store.stage_backup.StageBackup`), TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras


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
        self._write: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        layers = [layer for layer in self.model.layers if layer.trainable_weights]

        @tf.function
        def write(step: Any) -> None:  # one call per epoch: eager summaries cost ~1 ms each
            for layer in layers:
                squares = [tf.reduce_sum(tf.square(tf.cast(w.value, tf.float32))) for w in layer.trainable_weights]
                tf.summary.scalar(f"weight_norm/{layer.name}", tf.sqrt(tf.add_n(squares)), step=step)

        self._write = write

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        if self._writer is None:  # flushed every few seconds, and when training ends
            self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "train"), flush_millis=5000)
        with self._writer.as_default(), tf.summary.record_if(True):
            self._write(tf.constant(epoch + self.initial_epoch, tf.int64))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class StepLimit(keras.callbacks.Callback):
    """Stop `fit` after exactly `steps` optimizer steps (for recipes that give `training.steps`).

    With `steps_per_execution` > 1, Keras calls the batch hooks once per execution, with
    the index of its first batch; an execution runs `steps_per_execution` steps, or fewer
    at the end of an epoch. When the next execution would pass the limit, the model's
    `steps_per_execution` is lowered to the steps left and its train function rebuilt (one
    retrace), so the stage still ends at exactly `steps`.

    Args:
        steps: The stage's steps in all.

    Attributes:
        done_before: Steps of the stage done before this `fit` (set when resuming from a
            backup), so a resumed stage still stops at `steps` in all.
    """

    per_step_hooks = False  # counts whole executions itself

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.done_before = 0
        self._done = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._done = self.done_before

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Counting at batch begin keeps Keras's batch-end hooks asynchronous; the flag set
        # before the last allowed execution stops `fit` right after it.
        per_execution = int(getattr(self.model, "steps_per_execution", 1) or 1)
        per_epoch = (self.params or {}).get("steps")
        coming = min(per_execution, per_epoch - batch) if per_epoch else per_execution
        left = self.steps - self._done
        if coming > left:
            self.model.steps_per_execution = left
            self.model.make_train_function(force=True)
            coming = left
        self._done += coming
        if self._done >= self.steps:
            self.model.stop_training = True


class DataEpoch(keras.callbacks.Callback):
    """Tell the training pipeline which epoch of the run starts, so its order depends on nothing else.

    The pipeline shuffles and augments epoch `e` from seeds derived from `(seed, e)`
    (:func:`kerasopt.data.pipeline.make_dataset` with `epoch`), and numbers the passes
    after the first itself. Setting the number when a `fit`'s first epoch begins makes a
    resumed run see the same batches as an uninterrupted one. (Only then: Keras opens the
    next epoch's pass as soon as one ends, before the next `on_epoch_begin`; endless
    passes read the number once, when `fit` opens their iterator after this hook.)

    Args:
        variable: The pipeline's epoch variable (`DataBundle.epoch`).
        offset: Epochs of the stages before this one. Defaults to `0`.
    """

    async_safe = True

    def __init__(self, variable: Any, offset: int = 0) -> None:
        super().__init__()
        self.variable = variable
        self.offset = offset
        self._first = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._first = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._first:
            self.variable.assign(self.offset + epoch)
            self._first = False


def runner_callbacks(board: Any, plan: Any, run_dir: Any, stage: str, log_dir: str | None,
                     offset: tuple[int, int] = (0, 0), *, backup_minutes: float = 10.0,
                     data_epoch: Any = None) -> list[Any]:
    """The callbacks every stage gets from the runner itself.

    Args:
        board: The recipe's `runtime.tensorboard` settings.
        plan: The stage's :class:`~kerasopt.recipe.run.assemble.StagePlan`.
        run_dir: The run directory (backups go to its `checkpoints/`), or None.
        stage: The stage's name.
        log_dir: The TensorBoard folder, or None when this process does not log.
        offset: Epochs and steps of the stages before this one, so TensorBoard curves go on
            across stages. Defaults to `(0, 0)`.
        backup_minutes: Back up at the first epoch end this long after the last backup.
            Defaults to `10.0`.
        data_epoch: The training pipeline's epoch variable, or None. Defaults to `None`.
    """
    from kerasopt.recipe.store.stage_backup import StageBackup

    callbacks: list[Any] = []
    if data_epoch is not None:
        callbacks.append(DataEpoch(data_epoch, offset[0]))
    limit = None
    if plan.total_steps < plan.epochs * plan.steps_per_epoch:
        limit = StepLimit(plan.total_steps)
        callbacks.append(limit)
    if run_dir is not None:
        # About ten backups per stage, and one at least every `backup_minutes`: resuming
        # repeats at most a tenth of the stage or that much time. Every worker of a
        # multi-worker run resumes from the backups; the chief alone writes them.
        callbacks.append(StageBackup(run_dir, f"checkpoints/{backup_folder(stage)}",
                                     every_epochs=max(1, plan.epochs // 10),
                                     every_seconds=60.0 * backup_minutes, step_limit=limit))
    if log_dir is not None:
        from kerasopt.callbacks.tensorboard import TensorBoard

        callbacks.append(TensorBoard(
            log_dir=log_dir, update_freq=board.update_freq, histogram_freq=board.histogram_freq,
            write_graph=False, initial_epoch=offset[0], initial_step=offset[1]))
        if board.weight_norms:
            callbacks.append(WeightNormLogger(log_dir, initial_epoch=offset[0]))
    return callbacks


def backup_folder(stage: str) -> str:
    """The folder of a stage's backups inside `checkpoints/`."""
    return f"backup_{stage}"
