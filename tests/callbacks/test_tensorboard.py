"""kerasopt's TensorBoard keeps epoch summaries with an integer update_freq (Keras 3.15 drops them)."""

from __future__ import annotations

import keras
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasopt.callbacks.tensorboard import TensorBoard


def _tags(log_dir) -> set[str]:
    events = EventAccumulator(str(log_dir / "train"), size_guidance={"tensors": 0})
    events.Reload()
    return set(events.Tags()["tensors"])


def _fit(callback) -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((21, 3), "float32")
    model.fit(x, np.zeros((21, 1)), batch_size=3, epochs=2, verbose=0, callbacks=[callback])


def test_epoch_summaries_are_written_with_integer_update_freq(tmp_path):
    # 7 batches per epoch, update_freq=5: epoch ends (steps 7 and 14) are not multiples of 5.
    _fit(TensorBoard(str(tmp_path / "ours"), update_freq=5, write_graph=False))
    tags = _tags(tmp_path / "ours")
    assert {"epoch_loss", "epoch_learning_rate", "batch_loss"} <= tags
    _fit(keras.callbacks.TensorBoard(str(tmp_path / "keras"), update_freq=5, write_graph=False))
    assert "epoch_loss" not in _tags(tmp_path / "keras"), "the upstream behaviour this class fixes"


def test_config_round_trip():
    board = TensorBoard("logs", update_freq="batch", histogram_freq=2)
    again = TensorBoard.from_config(board.get_config())
    assert again.get_config() == board.get_config()
    assert again.get_config()["update_freq"] == "batch" and again.update_freq == 1


def test_async_safe_only_when_nothing_is_written_per_batch():
    assert TensorBoard("logs").async_safe
    assert not TensorBoard("logs", update_freq=5).async_safe
    assert not TensorBoard("logs", write_steps_per_second=True).async_safe


def test_epoch_update_freq_writes_no_batch_summaries_into_an_outer_writer(tmp_path):
    # Keras's hook calls summary.scalar for every batch's logs even with update_freq="epoch";
    # inside a caller's own default writer those land there as batch_* scalars.
    import tensorflow as tf

    for name, board in (("ours", TensorBoard(str(tmp_path / "ours_tb"), write_graph=False)),
                        ("keras", keras.callbacks.TensorBoard(str(tmp_path / "keras_tb"), write_graph=False))):
        outer = tf.summary.create_file_writer(str(tmp_path / name / "train"))
        with outer.as_default(step=0):
            _fit(board)
        outer.close()
        tags = _tags(tmp_path / name)
        assert ("batch_loss" in tags) is (name == "keras"), (name, tags)


def _scalar_steps(log_dir, tag) -> list[int]:
    import tensorflow as tf

    steps = []
    for path in sorted((log_dir / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def _fit_with_loggers(log_dir, board_first: bool | None) -> None:
    from kerasopt.callbacks import GradientMonitor, LearningRateLogger

    x = np.linspace(-1, 1, 63, dtype="float32").reshape(21, 3)
    y = x.sum(axis=1, keepdims=True)
    monitor = GradientMonitor(every_n_steps=3, log_dir=str(log_dir))
    monitor.set_probe(x[:6], y[:6])
    loggers = [LearningRateLogger(log_dir=str(log_dir), every_n_steps=1), monitor]
    callbacks = list(loggers)
    if board_first is not None:
        board = TensorBoard(str(log_dir), update_freq=5, write_graph=False)
        callbacks = [board, *loggers] if board_first else [*loggers, board]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(x, y, batch_size=3, epochs=3, verbose=0, callbacks=callbacks)


def test_integer_update_freq_keeps_other_callbacks_summaries(tmp_path):
    """Issue 19 item 9: an integer update_freq used to drop the LR logger's learning_rate
    (22 events -> 2) and the gradient monitor's grad_norm/global (9 -> 2)."""
    # 7 batches x 3 epochs = 21 steps: the LR logger writes at every step 1..21; the monitor
    # checks at train begin (step 0) and every 3 steps up to 18, when the next batch begins.
    _fit_with_loggers(tmp_path / "alone", board_first=None)
    assert _scalar_steps(tmp_path / "alone", "learning_rate") == list(range(1, 22))
    assert _scalar_steps(tmp_path / "alone", "grad_norm/global") == list(range(0, 19, 3))
    for board_first in (True, False):
        log_dir = tmp_path / f"board_first_{board_first}"
        _fit_with_loggers(log_dir, board_first=board_first)
        assert _scalar_steps(log_dir, "learning_rate") == list(range(1, 22)), board_first
        assert _scalar_steps(log_dir, "grad_norm/global") == list(range(0, 19, 3)), board_first
        assert _scalar_steps(log_dir, "batch_loss") == [5, 10, 15, 20], board_first
        assert _scalar_steps(log_dir, "epoch_loss") == [0, 1, 2], board_first
