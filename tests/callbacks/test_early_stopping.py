"""Tests of `EarlyStopping`: Keras parity, thresholds, non-finite values, resume, fit()."""

import json

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.callbacks.early_stopping import EarlyStopping


def _stub_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _drive(callback, values, monitor="loss", model=None, weights=None):
    """Run the hooks over scripted values; return the epochs that ran."""
    callback.set_model(model or _stub_model())
    callback.model.stop_training = False
    callback.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        if weights is not None:
            callback.model.set_weights(weights(epoch))
        callback.on_epoch_end(epoch, {monitor: value})
        ran += 1
        if callback.model.stop_training:
            break
    callback.on_train_end()
    return ran


def test_patience_matches_keras_early_stopping_test():
    # The sequence and expectation of keras's early_stopping_test.py::test_early_stopping_patience.
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    for patience in (0, 1, 2, 3):
        stopper = EarlyStopping(monitor="loss", patience=patience)
        _drive(stopper, losses)
        assert stopper.stopped_epoch == max(patience, 1) + 2
        assert stopper.stop_reason == "patience"
        assert (stopper.best, stopper.best_epoch) == (8.0, 2)


CONFIGS = [
    {"patience": 0},
    {"patience": 2},
    {"patience": 3, "min_delta": 0.05},
    {"patience": 2, "baseline": 0.6},
    {"patience": 1, "start_from_epoch": 3},
    {"patience": 2, "mode": "max"},
    {"patience": 4, "mode": "max", "min_delta": 0.02, "baseline": 0.3},
]


@pytest.mark.parametrize("config", CONFIGS)
def test_same_stopped_epoch_as_keras_on_scripted_logs(config):
    rng = np.random.default_rng(0)
    model = _stub_model()
    stops = []
    for trial in range(30):
        # A noisy decreasing (or, for max mode, increasing) curve of 25 epochs.
        steps = rng.normal(-0.03, 0.06, size=25)
        values = (1.0 + np.cumsum(steps)).tolist()
        ours = EarlyStopping(monitor="loss", **config)
        theirs = keras.callbacks.EarlyStopping(monitor="loss", **config)
        ran_ours = _drive(ours, values, model=model)
        ran_theirs = _drive(theirs, values, model=model)
        assert ran_ours == ran_theirs, (trial, values)
        assert ours.stopped_epoch == theirs.stopped_epoch
        assert (ours.best, ours.best_epoch, ours.wait) == (theirs.best, theirs.best_epoch, theirs.wait)
        assert ours.stop_reason == ("patience" if theirs.stopped_epoch > 0 else None)
        stops.append(ours.stopped_epoch)
    # The sequences exercise both outcomes and several stopping epochs.
    assert len(set(stops)) >= 3, stops


def test_stopping_threshold_stops_once_good_enough():
    stopper = EarlyStopping(monitor="loss", patience=5, stopping_threshold=2.0)
    assert _drive(stopper, [5.0, 3.0, 1.9, 1.5]) == 3
    assert (stopper.stop_reason, stopper.stopped_epoch, stopper.best) == ("threshold", 2, 1.9)
    # Reaching the threshold without an improvement (min_delta too large) also stops.
    stopper = EarlyStopping(monitor="loss", patience=5, min_delta=1.0, stopping_threshold=2.5)
    assert _drive(stopper, [3.0, 2.4]) == 2
    assert (stopper.stop_reason, stopper.best) == ("threshold", 3.0)
    # Max mode: at least 0.9 accuracy.
    stopper = EarlyStopping(monitor="accuracy", patience=5, stopping_threshold=0.9)
    assert _drive(stopper, [0.5, 0.8, 0.9, 0.95], monitor="accuracy") == 3


def test_divergence_threshold_stops_even_during_warm_up():
    stopper = EarlyStopping(monitor="loss", patience=10, divergence_threshold=5.0)
    assert _drive(stopper, [1.0, 0.8, 3.0, 5.0, 0.1]) == 4
    assert (stopper.stop_reason, stopper.stopped_epoch, stopper.best) == ("divergence", 3, 0.8)
    warm = EarlyStopping(monitor="loss", start_from_epoch=5, divergence_threshold=5.0)
    assert _drive(warm, [1.0, 6.0, 0.5]) == 2
    assert (warm.stop_reason, warm.best) == ("divergence", None)


def test_non_finite_stops_unless_disabled():
    stopper = EarlyStopping(monitor="loss", patience=10)
    assert _drive(stopper, [1.0, 0.5, float("nan"), 0.1]) == 3
    assert (stopper.stop_reason, stopper.stopped_epoch, stopper.best) == ("non_finite", 2, 0.5)
    stopper = EarlyStopping(monitor="loss", patience=10)
    assert _drive(stopper, [float("inf")]) == 1 and stopper.stop_reason == "non_finite"
    # check_finite=False: a NaN is never an improvement, so patience runs out instead.
    lenient = EarlyStopping(monitor="loss", patience=2, check_finite=False)
    assert _drive(lenient, [1.0, float("nan"), float("nan"), 0.1]) == 3
    assert (lenient.stop_reason, lenient.best) == ("patience", 1.0)


def test_relative_min_delta():
    # best 1.0: 0.95 is not 10% better; 0.89 is; then 0.85 is not 10% better than 0.89.
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=0.1, min_delta_mode="relative")
    assert _drive(stopper, [1.0, 0.95, 0.89, 0.85, 0.84]) == 5
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.89, 2, 4)


def test_restore_best_weights_restores_the_best_epoch():
    model = _stub_model()

    def weights(epoch):  # The kernel holds the epoch number, so we can tell which came back.
        return [np.full((2, 1), float(epoch), "float32"), np.zeros(1, "float32")]

    stopper = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    _drive(stopper, [3.0, 1.0, 2.0, 2.5, 0.5], model=model, weights=weights)
    assert (stopper.best_epoch, stopper.stopped_epoch) == (1, 3)
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 1), 1.0))


def test_missing_key_raises_after_warm_up_only():
    stopper = EarlyStopping(monitor="val_loss", start_from_epoch=2)
    stopper.set_model(_stub_model())
    stopper.on_train_begin()
    stopper.on_epoch_end(0, {"loss": 1.0})
    stopper.on_epoch_end(1, {"loss": 1.0})
    with pytest.raises(ValueError, match=r"monitors 'val_loss'.*Available keys: loss\."):
        stopper.on_epoch_end(2, {"loss": 1.0})


@pytest.mark.parametrize("restore", [False, True])
def test_state_dict_resume_continues_exactly(restore):
    values = [1.0, 0.7, 0.8, 0.65, 0.66, 0.67, 0.64, 0.7, 0.71, 0.72, 0.73]

    def weights(epoch):
        return [np.full((2, 1), float(epoch), "float32"), np.zeros(1, "float32")]

    config = {"monitor": "loss", "patience": 3, "min_delta": 0.005, "restore_best_weights": restore}
    whole = EarlyStopping(**config)
    model = _stub_model()
    _drive(whole, values, model=model, weights=weights)
    expected_weights = model.get_weights()

    first = EarlyStopping(**config)
    first.set_model(_stub_model())
    first.on_train_begin()
    for epoch in range(5):
        first.model.set_weights(weights(epoch))
        first.on_epoch_end(epoch, {"loss": values[epoch]})
    state = first.state_dict(include_weights=restore)
    weight_part = state.pop("best_weights", None)
    state = json.loads(json.dumps(state))  # the JSON part must survive a file
    if restore:
        state["best_weights"] = [w.tolist() for w in weight_part]

    resumed = EarlyStopping.from_config(first.get_config())
    resumed.load_state_dict(state)
    resumed.set_model(_stub_model())
    resumed.on_train_begin()  # must keep the loaded state
    for epoch in range(5, len(values)):
        resumed.model.set_weights(weights(epoch))
        resumed.on_epoch_end(epoch, {"loss": values[epoch]})
        if resumed.model.stop_training:
            break
    resumed.on_train_end()
    assert resumed.state_dict() == whole.state_dict()
    assert (resumed.stopped_epoch, resumed.best_epoch) == (9, 6)
    if restore:
        np.testing.assert_array_equal(resumed.model.get_weights()[0], expected_weights[0])


def test_load_state_without_best_weights_is_rejected_when_restoring():
    stopper = EarlyStopping(monitor="loss", restore_best_weights=True)
    state = {"wait": 0, "best": 0.5, "best_epoch": 1, "stopped_epoch": 0, "stop_reason": None}
    with pytest.raises(ValueError, match=r"restore_best_weights=True.*include_weights=True"):
        stopper.load_state_dict(state)


def test_reuse_across_fit_calls_resets_state():
    stopper = EarlyStopping(monitor="loss", patience=1)
    _drive(stopper, [1.0, 2.0])
    assert stopper.stop_reason == "patience"
    _drive(stopper, [5.0, 4.0, 3.0])
    assert (stopper.stop_reason, stopper.best, stopper.stopped_epoch) == (None, 3.0, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patience": -1}, r"`patience` must be an integer >= 0. Received: patience=-1"),
        ({"patience": 1.5}, r"patience=1.5"),
        ({"start_from_epoch": -2}, r"start_from_epoch=-2"),
        ({"baseline": float("nan")}, r"`baseline` must be None or a finite number"),
        ({"stopping_threshold": "0.1"}, r"stopping_threshold='0.1'"),
        ({"check_finite": 1}, r"`check_finite` must be True or False"),
        ({"restore_best_weights": None}, r"restore_best_weights=None"),
        ({"verbose": -1}, r"verbose=-1"),
        ({"mode": "auto_"}, r"Received: mode='auto_'"),
        ({"mode": "min", "stopping_threshold": 2.0, "divergence_threshold": 1.0},
         r"`stopping_threshold` must be < `divergence_threshold`"),
        ({"mode": "max", "stopping_threshold": 0.5, "divergence_threshold": 0.9},
         r"`stopping_threshold` must be > `divergence_threshold`"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


def test_inconsistent_thresholds_in_auto_mode_raise_once_direction_is_known():
    stopper = EarlyStopping(monitor="val_accuracy", stopping_threshold=0.5, divergence_threshold=0.9)
    with pytest.raises(ValueError, match="when 'val_accuracy' is maximized"):
        _drive(stopper, [0.1], monitor="val_accuracy")


def test_config_round_trips():
    stopper = EarlyStopping(monitor="val_accuracy", patience=4, min_delta=0.01,
                            min_delta_mode="relative", stopping_threshold=0.99,
                            restore_best_weights=True)
    config = stopper.get_config()
    assert EarlyStopping.from_config(config).get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stopper))
    assert type(rebuilt) is EarlyStopping and rebuilt.get_config() == config
    built = registry.build("callback", {"type": "early_stopping", **config})
    assert type(built) is EarlyStopping and built.get_config() == config


def test_fit_stops_on_divergence_and_restores_best_weights():
    # Linear regression y = x @ [1, -1] with SGD at a rate far above 2 / lambda_max:
    # the loss grows geometrically until it overflows to inf/NaN.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 2)).astype("float32")
    y = x @ np.array([[1.0], [-1.0]], "float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=3.0), loss="mse")
    stopper = EarlyStopping(monitor="loss", patience=100, restore_best_weights=True)
    history = model.fit(x, y, batch_size=32, epochs=200, callbacks=[stopper], verbose=0)
    losses = history.history["loss"]
    assert stopper.stop_reason == "non_finite"
    assert len(losses) == stopper.stopped_epoch + 1 < 200
    assert not np.isfinite(losses[-1])
    assert stopper.best == pytest.approx(min(losses[:-1]), rel=1e-6)
    assert stopper.best_epoch == int(np.argmin(losses[:-1]))
    assert np.all(np.isfinite(model.predict(x, verbose=0)))
