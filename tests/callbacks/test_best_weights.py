"""BestWeights keeps the best epoch's weights, by the monitored value, driven with scripted logs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.callbacks.best_weights import BestWeights


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.compile("sgd", "mse", metrics=["accuracy"])
    return model


def _drive(keeper: BestWeights, model: keras.Model, values: list[float], key: str) -> None:
    """Epoch e sets the kernel to e, then logs values[e]."""
    keeper.set_model(model)
    keeper.on_train_begin()
    for epoch, value in enumerate(values):
        model.layers[0].kernel.assign([[float(epoch)]])
        keeper.on_epoch_end(epoch, {key: value, "loss": 1.0})
    keeper.on_train_end()


@pytest.mark.parametrize(("key", "values", "best_epoch"), [
    ("val_loss", [0.9, 0.4, 0.5, 0.45], 1),
    ("val_accuracy", [0.2, 0.7, 0.9, 0.6], 2),  # maximized: the name holds "acc"
    ("val_loss", [0.9, float("nan"), 0.95, 1.0], 0),  # NaN never improves
])
def test_restores_the_kernel_of_the_best_epoch(key, values, best_epoch):
    model = _model()
    keeper = BestWeights(monitor=key)
    _drive(keeper, model, values, key)
    assert keeper.best_epoch == best_epoch
    assert keras.ops.convert_to_numpy(model.layers[0].kernel)[0, 0] == best_epoch


def test_last_epoch_best_changes_nothing_and_restore_false_waits():
    model = _model()
    keeper = BestWeights(restore=False)
    _drive(keeper, model, [0.5, 0.3, 0.2], "val_loss")
    assert not keeper.improves_on_last and keeper.restore() is False
    keeper = BestWeights(restore=False)
    _drive(keeper, model, [0.5, 0.1, 0.2], "val_loss")
    assert keras.ops.convert_to_numpy(model.layers[0].kernel)[0, 0] == 2  # not restored yet
    assert keeper.restore() is True
    assert keras.ops.convert_to_numpy(model.layers[0].kernel)[0, 0] == 1


def test_config_round_trip_and_bad_arguments():
    keeper = BestWeights(monitor="val_auc", mode="max", min_delta=0.01, restore=False)
    assert BestWeights.from_config(keeper.get_config()).get_config() == keeper.get_config()
    with pytest.raises(ValueError, match="restore"):
        BestWeights(restore="yes")
    with pytest.raises(ValueError, match="mode"):
        BestWeights(mode="best")


def test_fit_ends_with_the_best_validation_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1)).astype("float32")
    model = _model()
    keeper = BestWeights()
    history = model.fit(x, 2 * x, validation_data=(x, 2 * x), epochs=4, verbose=0, callbacks=[keeper])
    best = int(np.argmin(history.history["val_loss"]))
    assert keeper.best_epoch == best
    assert model.evaluate(x, 2 * x, verbose=0, return_dict=True)["loss"] == pytest.approx(
        history.history["val_loss"][best], rel=1e-5)
