"""Tests of LazyAdam: Adam on dense gradients, row-wise lazy Adam on sparse ones."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers.lazy_adam import LazyAdam
from tests.optimizers.first_order_testing import (
    START,
    keras_trajectory,
    quadratic_gradient,
    single_variable,
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="sparse gradients exist on the TensorFlow backend"
)

TABLE = np.arange(12, dtype="float64").reshape(6, 2) / 10.0
# Rows looked up at each step (row 2 twice at step 0: its gradients add up); rows 4, 5 never.
BATCH_ROWS = [[0, 2, 2], [1, 2], [0, 3], [2]]


def row_values(rows, step):
    """The sparse gradient's values: one deterministic vector per looked-up row."""
    return np.array([[0.5 - 0.1 * r + 0.05 * step, 0.2 * (r + 1)] for r in rows])


def lazy_adam_reference(steps, lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
    """Adam (Kingma & Ba, epsilon hat) applied only to the rows present, duplicates summed."""
    w = TABLE.copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        rows = BATCH_ROWS[(t - 1) % len(BATCH_ROWS)]
        grad = np.zeros_like(w)
        np.add.at(grad, rows, row_values(rows, t - 1))
        present = sorted(set(rows))
        # Keras Adam (and so LazyAdam) raises float32(beta) to the power t for the bias
        # correction; float32(0.999) is 1.3e-8 above 0.999, which shifts 1 - beta_2^t by 1e-5.
        b1, b2 = float(np.float32(beta_1)), float(np.float32(beta_2))
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for r in present:
            w[r] -= lr * weight_decay * w[r]
            m[r] = beta_1 * m[r] + (1 - beta_1) * grad[r]
            v[r] = beta_2 * v[r] + (1 - beta_2) * grad[r] ** 2
            w[r] -= alpha * m[r] / (np.sqrt(v[r]) + epsilon)
    return w, m


def apply_sparse(optimizer, steps):
    table = keras.Variable(TABLE.astype("float32"), name="table")
    for t in range(steps):
        rows = BATCH_ROWS[t % len(BATCH_ROWS)]
        grad = tf.IndexedSlices(
            tf.constant(row_values(rows, t), tf.float32), tf.constant(rows, tf.int64), tf.constant([6, 2], tf.int64)
        )
        optimizer.apply([grad], [table])
    return table.numpy()


def test_dense_gradients_follow_keras_adam_exactly():
    lazy = keras_trajectory(LazyAdam(learning_rate=0.05), [START], single_variable(quadratic_gradient), 20)[0]
    adam = keras_trajectory(
        keras.optimizers.Adam(learning_rate=0.05), [START], single_variable(quadratic_gradient), 20
    )[0]
    np.testing.assert_array_equal(lazy, adam)


def test_first_sparse_step_by_hand():
    # Step 1: m = 0.1 g, v = 0.001 g^2 and alpha = lr sqrt(0.001) / 0.1, so a present row
    # moves by lr g / (|g| + 1e-7 / sqrt(0.001)); rows absent from the batch do not move.
    got = apply_sparse(LazyAdam(learning_rate=0.1), 1)
    g = row_values([0, 2, 2], 0)
    expected = TABLE.copy()
    for row, grad in ((0, g[0]), (2, g[1] + g[2])):
        expected[row] -= 0.1 * grad / (np.abs(grad) + 1e-7 / np.sqrt(0.001))
    # atol: like keras Adam, 1 - 0.999^t is computed from float32(0.999), 1.3e-5 off relatively.
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("weight_decay", [None, 0.1])
def test_twenty_sparse_steps_match_numpy_reference(weight_decay):
    # Golden values: lazy_adam_reference above, float64.
    optimizer = LazyAdam(learning_rate=0.1, weight_decay=weight_decay)
    got = apply_sparse(optimizer, 20)
    expected, momentum = lazy_adam_reference(20, weight_decay=weight_decay or 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optimizer._momentums[0].numpy(), momentum, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got[4:], TABLE[4:].astype("float32"))


def _embedding_model(optimizer):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((3,), dtype="int32"),
        keras.layers.Embedding(10, 4),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
    return model


@pytest.mark.parametrize("amsgrad", [False, True])
def test_embedding_rows_not_in_any_batch_stay_exactly_unchanged(amsgrad):
    x = np.array([[1, 2, 2], [3, 1, 1], [2, 3, 1], [1, 1, 3]], dtype="int32")
    y = np.linspace(-1, 1, 4).reshape(4, 1).astype("float32")

    def trained_table(optimizer):
        model = _embedding_model(optimizer)
        before = model.layers[0].embeddings.numpy().copy()
        model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0)
        return before, model.layers[0].embeddings.numpy()

    before, after = trained_table(LazyAdam(learning_rate=0.05, amsgrad=amsgrad, weight_decay=0.01))
    untouched = [0, 4, 5, 6, 7, 8, 9]
    np.testing.assert_array_equal(after[untouched], before[untouched])
    assert np.all(np.abs(after[[1, 2, 3]] - before[[1, 2, 3]]).max(axis=1) > 1e-3)
    # Keras Adam with the same decay moves every row (decay and momentum touch them all).
    before, after = trained_table(keras.optimizers.Adam(learning_rate=0.05, weight_decay=0.01))
    assert np.all(np.abs(after[untouched] - before[untouched]).max(axis=1) > 0)


def test_config_is_adams():
    optimizer = LazyAdam(learning_rate=0.003, amsgrad=True)
    config = optimizer.get_config()
    assert config["learning_rate"] == 0.003 and config["amsgrad"] is True
    assert LazyAdam.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta_1": 1.2}, r"`beta_1` must be a number in \[0, 1\)\. Received: beta_1=1\.2"),
        ({"amsgrad": None}, r"`amsgrad` must be True or False\. Received: amsgrad=None"),
        ({"epsilon": -1e-7}, r"`epsilon` must be .*Received: epsilon=-1e-07"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LazyAdam(**kwargs)
