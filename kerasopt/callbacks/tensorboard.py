"""Keras's TensorBoard callback, with epoch summaries that survive a batch-level `update_freq`."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt._keras_compat import tensorboard_traces
from kerasopt.registry import register


@register("callback")
class TensorBoard(keras.callbacks.TensorBoard):
    """`keras.callbacks.TensorBoard` that always writes its epoch-level summaries.

    With an integer `update_freq`, Keras 3.15's TensorBoard keeps a
    `tf.summary.record_if(step % update_freq == 0)` condition active between batches,
    so the epoch summaries written at the end of an epoch (`epoch_loss`,
    `epoch_learning_rate`, ...) and any summary another callback writes then are dropped
    unless the epoch happens to end on a multiple of `update_freq`; the same condition
    silently drops what other callbacks write to their own writers in their hooks (a
    learning-rate logger's `learning_rate`, a gradient monitor's `grad_norm/global`).
    This subclass records unconditionally at epoch end, throttles its own batch
    summaries itself, and leaves `update_freq`'s condition in force only inside traced
    functions (the train step's own `tf.summary` calls), so summaries written eagerly
    by other callbacks are kept whatever the callback order; everything else is Keras's
    callback, with its arguments.

    `initial_epoch` and `initial_step` offset the epoch and batch steps of the summaries, so
    that consecutive `fit` calls (stages of one run) continue one curve instead of
    restarting at 0.

    Args:
        initial_epoch: Added to the epoch index of epoch-level summaries. Defaults to `0`.
        initial_step: The batch-level summary step at the start of `fit`. Defaults to `0`.

    Example:
        ```python
        model.fit(x, y, epochs=3, callbacks=[kerasopt.callbacks.TensorBoard("logs", update_freq=10)])
        ```
    """

    def __init__(self, log_dir: str = "logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq: str | int = "epoch", profile_batch: int | tuple[int, int] = 0,
                 embeddings_freq: int = 0, embeddings_metadata: dict[str, str] | str | None = None,
                 initial_epoch: int = 0, initial_step: int = 0) -> None:
        for name, value in (("initial_epoch", initial_epoch), ("initial_step", initial_step)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")
        super().__init__(log_dir=log_dir, histogram_freq=histogram_freq, write_graph=write_graph,
                         write_images=write_images, write_steps_per_second=write_steps_per_second,
                         update_freq=update_freq, profile_batch=profile_batch,
                         embeddings_freq=embeddings_freq, embeddings_metadata=embeddings_metadata)
        self._config = {
            "log_dir": str(log_dir), "histogram_freq": histogram_freq, "write_graph": write_graph,
            "write_images": write_images, "write_steps_per_second": write_steps_per_second,
            "update_freq": update_freq, "profile_batch": profile_batch,
            "embeddings_freq": embeddings_freq, "embeddings_metadata": embeddings_metadata,
            "initial_epoch": initial_epoch, "initial_step": initial_step,
        }
        self.initial_epoch = initial_epoch
        self.initial_step = initial_step

    @property
    def async_safe(self) -> bool:
        """True when nothing is written per batch, so Keras may run batch hooks asynchronously.

        Keras's TensorBoard overrides `on_train_batch_end`, which makes `fit` convert the
        logs to Python numbers after every batch (a host sync) even with
        `update_freq="epoch"`, where that hook writes nothing.
        """
        return (self.update_freq == "epoch" and not self.write_steps_per_second
                and not tensorboard_traces(self))

    @property
    def per_step_hooks(self) -> bool:
        """True with a batch-level `update_freq`: Keras's TensorBoard counts one summary step
        per batch hook, which is one execution with `steps_per_execution` > 1."""
        return self.update_freq != "epoch"

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        self._pop_writer()  # Keras pushed its writer at step 0; push it again at the offset
        self._global_train_batch = self.initial_step
        self._push_writer(self._train_writer, self._global_train_batch)

    def _push_writer(self, writer: Any, step: int) -> None:
        """Keras's `_push_writer`, with `update_freq`'s condition only inside traced functions."""
        if self.update_freq == "epoch":
            return
        import tensorflow as tf

        def should_record() -> bool:
            return not tf.inside_function() or step % self.update_freq == 0

        context = (writer.as_default(step), self.summary.record_if(should_record))
        self._prev_summary_state.append(context)
        context[0].__enter__()
        context[1].__enter__()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # With update_freq="epoch" no writer records batch summaries, yet Keras's hook still
        # calls `summary.scalar` for every value of every batch's logs: skip the logs then.
        if self.update_freq == "epoch":
            super().on_train_batch_end(batch, None)
            return
        with self.summary.record_if(self._global_train_batch % self.update_freq == 0):
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        with self.summary.record_if(True):
            super().on_epoch_end(epoch + self.initial_epoch, logs)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as given (Keras's TensorBoard has no `get_config`)."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TensorBoard:
        """Rebuild the callback from :meth:`get_config`."""
        return cls(**config)
