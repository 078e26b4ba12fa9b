"""The corrections of Keras's `fit` under MultiWorkerMirroredStrategy (keras-team/keras#20585).

The fast tests pin the upstream state: on the Keras release kerasopt is tested with, both
failing spots are still in Keras's source, so the corrections are needed. When a Keras
upgrade changes that, `test_keras_still_has_the_multi_worker_bug` fails: check whether
Keras fixed #20585, and if so bound `keras_fixes.CHECKED_THROUGH` to the releases that
need the corrections. The slow test runs two real worker processes and shows each failure
and its correction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt import _keras_compat as compat
from kerasopt.data.pipeline import make_dataset
from kerasopt.distribute import keras_fixes
from kerasopt.distribute.local_workers import LocalWorkers
from kerasopt.recipe.run.run_callbacks import DataEpoch

WORKER_SCRIPT = Path(__file__).with_name("fit_worker.py")


def test_keras_still_has_the_multi_worker_bug():
    # Fails when Keras's trainer changes: re-check keras-team/keras#20585 (see module docstring).
    assert keras.__version__ == compat.TESTED_KERAS_VERSION
    assert keras_fixes.buggy_code_present()
    assert keras_fixes.fix_needed()


def test_version_parsing_and_guard(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.15.1")
    assert keras_fixes.keras_version() == (3, 15, 1) and keras_fixes.fix_needed()
    monkeypatch.setattr(keras, "__version__", "3.16.0rc1")
    assert keras_fixes.keras_version() == (3, 16, 0)
    assert keras_fixes.fix_needed()  # newer, but the failing code is still there
    monkeypatch.setattr(keras_fixes, "buggy_code_present", lambda: False)
    assert not keras_fixes.fix_needed()  # a newer Keras without the bug is left alone
    before = compat.fit_internals()
    with keras_fixes.multi_worker_fit_fixes() as applied:
        assert applied is False
        assert compat.fit_internals() == before


def test_fixes_are_undone_and_change_nothing_off_a_cluster():
    """Inside the block a one-process fit gives exactly the numbers it gives outside it."""
    before = compat.fit_internals()

    def trained() -> tuple[list[float], list[np.ndarray]]:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        data = make_dataset(rng.normal(size=(48, 4)).astype("float32"), rng.integers(0, 3, 48),
                            batch_size=16)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(data, epochs=2, verbose=0, shuffle=False)
        return history.history["loss"], model.get_weights()

    plain_loss, plain_weights = trained()
    with keras_fixes.multi_worker_fit_fixes() as applied:
        assert applied is True
        assert compat.fit_internals() != before
        fixed_loss, fixed_weights = trained()
    assert compat.fit_internals() == before
    assert fixed_loss == plain_loss
    for a, b in zip(plain_weights, fixed_weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_two_workers_fail_without_the_fixes_and_train_in_lockstep_with_them(tmp_path):
    status = LocalWorkers([sys.executable, str(WORKER_SCRIPT), str(tmp_path)], 2, tmp_path).run()
    assert status == 0, (tmp_path / "worker-1.log").read_text()[-3000:]
    results = [json.loads((tmp_path / f"worker-{i}.json").read_text()) for i in range(2)]
    for result in results:
        assert result["replicas"] == 2 and result["applied"] is True
        # Keras as it is: _maybe_symbolic_build reduces the data batch across workers.
        assert "Attempt to convert a value (PerReplica" in result["none"]["error"]
        # With that corrected: reduce_per_replica reduces scalar logs with axis=0.
        assert "Invalid reduction dimension 0 for input with 0 dimensions" in result["build_only"]["error"]
        assert result["divergence"] == 0.0
        # Worker 1 nudged one weight by 0.5: each worker is 0.25 from the mean, 0.5 in all.
        assert result["divergence_after_nudge"] == pytest.approx(0.5, abs=1e-6)
    assert results[0]["weights"] == results[1]["weights"]
    assert results[0]["both"]["loss"] == results[1]["both"]["loss"]
    # One process with the same global batch (16) gives the same training, to float rounding.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    epoch = tf.Variable(0, dtype=tf.int64)
    data = make_dataset(rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64),
                        batch_size=16, shuffle=True, seed=0, epoch=epoch)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(data, epochs=2, verbose=0, shuffle=False, callbacks=[DataEpoch(epoch)])
    np.testing.assert_allclose(results[0]["both"]["loss"], history.history["loss"], rtol=1e-5)
    for got, want in zip(results[0]["weights"], model.get_weights(), strict=True):
        np.testing.assert_allclose(np.array(got), want, atol=1e-6)
