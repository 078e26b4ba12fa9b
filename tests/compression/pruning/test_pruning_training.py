"""Pruning during `fit`: zeros survive optimizers, saving, reloading and resuming."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.compression.masking import MaskConstraint
from kerasopt.compression.pruning import (
    ConstantSparsity,
    PolynomialDecay,
    PruneLowMagnitude,
    UpdatePruning,
    prune_low_magnitude,
    pruning_summary,
    strip_pruning,
)


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu", name="a"),
                             keras.layers.Dense(8, name="b")])


def data(n=20, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 12)).astype("float32"), rng.normal(size=(n, 8)).astype("float32")


def wrappers(model):
    return [layer for layer in model.layers if isinstance(layer, PruneLowMagnitude)]


def arrays(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable))


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_pruned_weights_stay_exactly_zero_through_fit(optimizer):
    # Batches are steps 1-20 (tfmot's counting, see test_tfmot_parity.py): begin_step=1 prunes
    # before the first batch (begin_step=0, frequency=100 would first prune at step 100).
    pruned = prune_low_magnitude(tiny_model(), ConstantSparsity(0.6, begin_step=1, frequency=100))
    before = [arrays(w.pruned_weight) for w in wrappers(pruned)]
    opt = (keras.optimizers.SGD(0.05, momentum=0.9) if optimizer == "sgd_momentum"
           else keras.optimizers.Adam(0.01))
    pruned.compile(opt, "mse")
    x, y = data()
    pruned.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[UpdatePruning()])  # 20 steps
    for wrapper, start in zip(wrappers(pruned), before, strict=True):
        mask, kernel = arrays(wrapper.mask), arrays(wrapper.pruned_weight)
        assert mask.size - mask.sum() == mask.size - round(mask.size * 0.4)
        assert np.all(kernel[mask == 0] == 0)
        assert np.count_nonzero(kernel[mask == 1]) == mask.sum()
        assert not np.allclose(kernel[mask == 1], start[mask == 1])  # it trained
        assert int(wrapper.pruning_step) == 20


def test_fit_reaches_the_final_sparsity_at_end_step():
    pruned = prune_low_magnitude(tiny_model(), PolynomialDecay(0.0, 0.8, 0, 15, frequency=5))
    pruned.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    x, y = data()
    pruned.fit(x[:14], y[:14], batch_size=1, verbose=0, callbacks=[UpdatePruning()])
    # The k-th batch is step k, as in tfmot (see test_tfmot_parity.py; this test used to
    # count from step 0, one batch behind). Steps 1-14 ran: the last update (step 10) used
    # 0.8 * (1 - (1 - 10/15) ** 3).
    partial = 0.8 * (1 - (1 / 3) ** 3)
    sizes = {"a": 12 * 16, "b": 16 * 8}
    summary = pruning_summary(pruned)["layers"]
    for name, size in sizes.items():
        assert summary[name] == (size - round(size * (1 - partial))) / size
    pruned.fit(x[:1], y[:1], batch_size=1, verbose=0, callbacks=[UpdatePruning()])  # step 15
    assert int(wrappers(pruned)[0].pruning_step) == 15  # end_step batches ran: final sparsity
    summary = pruning_summary(pruned)
    for name, size in sizes.items():
        assert summary["layers"][name] == (size - round(size * 0.2)) / size  # 0.8 within rounding
    assert summary["sparsity"] == pytest.approx(0.8, abs=1 / 128)


def test_steps_per_execution_applies_skipped_pruning_steps():
    pruned = prune_low_magnitude(tiny_model(), PolynomialDecay(0.0, 0.5, 0, 6, frequency=3))
    pruned.compile("sgd", "mse", steps_per_execution=4)
    x, y = data(n=12)
    pruned.fit(x, y, batch_size=1, verbose=0, callbacks=[UpdatePruning()])
    # Batches are steps 1-12 (tfmot's counting), run in executions [1-4], [5-8], [9-12]: a
    # gated step inside an execution is applied before the next one (step 3 before step 5,
    # step 6 before step 9).
    assert pruning_summary(pruned)["layers"]["a"] == (192 - round(192 * 0.5)) / 192
    assert int(wrappers(pruned)[0].pruning_step) == 12


def test_save_weights_into_a_freshly_pruned_model_and_keep_training(tmp_path):
    schedule = PolynomialDecay(0.0, 0.7, 0, 10, frequency=5)
    pruned = prune_low_magnitude(tiny_model(), schedule)
    pruned.compile(keras.optimizers.Adam(0.01), "mse")
    x, y = data()
    pruned.fit(x[:12], y[:12], batch_size=1, verbose=0, callbacks=[UpdatePruning()])
    path = os.path.join(tmp_path, "pruned.weights.h5")
    pruned.save_weights(path)

    fresh = prune_low_magnitude(tiny_model(seed=5), schedule)
    fresh.load_weights(path)
    for old, new in zip(wrappers(pruned), wrappers(fresh), strict=True):
        np.testing.assert_array_equal(arrays(new.mask), arrays(old.mask))
        np.testing.assert_array_equal(arrays(new.pruned_weight), arrays(old.pruned_weight))
        assert int(new.pruning_step) == 12
        assert isinstance(new.pruned_weight.constraint, MaskConstraint)
    fresh.compile(keras.optimizers.Adam(0.01), "mse")
    fresh.fit(x, y, batch_size=2, verbose=0, callbacks=[UpdatePruning()])  # past end_step
    for wrapper in wrappers(fresh):
        mask, kernel = arrays(wrapper.mask), arrays(wrapper.pruned_weight)
        assert np.all(kernel[mask == 0] == 0) and mask.sum() == round(mask.size * 0.3)
        assert int(wrapper.pruning_step) == 22


def test_keras_round_trip_in_safe_mode_resumes_the_schedule(tmp_path):
    pruned = prune_low_magnitude(tiny_model(), PolynomialDecay(0.0, 0.8, 0, 20, frequency=10),
                                 structure="block", block_shape=(4, 1), scope="global")
    pruned.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    x, y = data()
    pruned.fit(x[:11], y[:11], batch_size=1, verbose=0, callbacks=[UpdatePruning()])  # steps 1-11
    path = os.path.join(tmp_path, "pruned.keras")
    pruned.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-6)
    for old, new in zip(wrappers(pruned), wrappers(loaded), strict=True):
        assert json.loads(json.dumps(new.get_config())) == json.loads(json.dumps(old.get_config()))
        np.testing.assert_array_equal(arrays(new.mask), arrays(old.mask))
        assert isinstance(new.pruned_weight.constraint, MaskConstraint)
    blocks = (12 * 16 + 16 * 8) // 4  # (4, 1) blocks; both kernels divide evenly
    # Resume at step 12 (tfmot's counting, see test_tfmot_parity.py; it used to be one batch
    # behind): steps 12-19 change nothing (the step-10 sparsity, 0.8 * (1 - 0.5 ** 3)).
    loaded.fit(x[:8], y[:8], batch_size=1, verbose=0, callbacks=[UpdatePruning()])
    assert pruning_summary(loaded)["sparsity"] == (blocks - round(blocks * 0.3)) / blocks
    loaded.fit(x[:1], y[:1], batch_size=1, verbose=0, callbacks=[UpdatePruning()])  # step 20
    assert pruning_summary(loaded)["sparsity"] == (blocks - round(blocks * 0.2)) / blocks
    for wrapper in wrappers(loaded):
        assert np.all(arrays(wrapper.pruned_weight)[arrays(wrapper.mask) == 0] == 0)


def test_strip_pruning_keeps_predictions_and_zeros():
    pruned = prune_low_magnitude(tiny_model(), ConstantSparsity(0.5, frequency=1))
    pruned.compile("sgd", "mse")
    x, y = data()
    pruned.fit(x, y, batch_size=4, verbose=0, callbacks=[UpdatePruning()])
    stripped = strip_pruning(pruned)
    assert [type(layer) for layer in stripped.layers] == [keras.layers.Dense, keras.layers.Dense]
    assert [layer.name for layer in stripped.layers] == ["a", "b"]
    assert stripped.layers[0].kernel.constraint is None
    np.testing.assert_array_equal(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0))
    assert pruning_summary(stripped) == pruning_summary(pruned)
    assert pruning_summary(stripped)["sparsity"] == 0.5


def test_tensorboard_scalars(tmp_path):
    pruned = prune_low_magnitude(tiny_model(), ConstantSparsity(0.25, frequency=2))
    pruned.compile("sgd", "mse")
    x, y = data(n=8)
    pruned.fit(x, y, batch_size=2, epochs=2, verbose=0,
               callbacks=[UpdatePruning(log_dir=str(tmp_path))])
    values = {}
    for root, _, files in os.walk(os.path.join(tmp_path, "train")):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                for value in event.summary.value:
                    number = float(tf.make_ndarray(value.tensor))
                    values.setdefault(value.tag, []).append((event.step, number))
    assert values["pruning/sparsity/a"] == [(4, 0.25), (8, 0.25)]
    assert values["pruning/sparsity/b"] == [(4, 0.25), (8, 0.25)]
    assert values["pruning/sparsity"] == [(4, 0.25), (8, 0.25)]
    assert values["pruning/target_sparsity"] == [(4, 0.25), (8, 0.25)]


def test_callback_config_and_errors():
    callback = UpdatePruning(log_dir="logs")
    assert UpdatePruning.from_config(callback.get_config()).get_config() == {"log_dir": "logs"}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, UpdatePruning) and restored.log_dir == "logs"
    with pytest.raises(ValueError, match=r"`log_dir` must be a non-empty string or None. Received: log_dir=''"):
        UpdatePruning(log_dir="")
    model = tiny_model()
    model.compile("sgd", "mse")
    x, y = data(n=2)
    with pytest.raises(ValueError, match="found no PruneLowMagnitude layer"):
        model.fit(x, y, verbose=0, callbacks=[UpdatePruning()])
    unbuilt = prune_low_magnitude(keras.Sequential([keras.layers.Dense(8, name="d")]))
    unbuilt.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"'prune_low_magnitude_d' of model .* is not built"):
        unbuilt.fit(x[:, :4], y, verbose=0, callbacks=[UpdatePruning()])


def test_epoch_end_checkpoints_see_the_exact_step_whatever_the_callback_order():
    pruned = prune_low_magnitude(tiny_model(), ConstantSparsity(0.5, frequency=100))
    seen = []
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(int(wrappers(pruned)[1].pruning_step)))
    pruned.compile("sgd", "mse")
    x, y = data(n=6)
    # The recorder runs before UpdatePruning, as a ModelCheckpoint listed first would.
    with pytest.warns(UserWarning, match="no mask was updated in this fit"):  # step 100 is far
        pruned.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[recorder, UpdatePruning()])
    assert seen == [3, 6]
