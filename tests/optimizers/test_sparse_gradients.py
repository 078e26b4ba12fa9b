"""Sparse gradients with repeated indices give the update of the dense gradient they stand for.

An `Embedding` lookup of a batch where a token occurs twice gives a `tf.IndexedSlices`
whose indices repeat; the gradient it stands for sums the repeated rows. Updates that
square, normalize or take the sign of the gradient (Yogi, NovoGrad, LARS, Rprop, the
Adam family...) must see that sum, not each duplicate (TF Addons' Yogi, NovoGrad, LARS
and Rprop took g^2 per duplicate). For every registered kerasopt optimizer, three steps
with the sparse gradient must equal three steps with the dense gradient summed in NumPy
(`np.add.at`):

- on every row for the optimizers with dense semantics (all but LazyAdam): the sparse
  gradient is made dense first, so rows the batch did not touch move as they would
  under the dense update (moment decay, weight decay);
- for LazyAdam on every row too, here because the same rows are touched at every step
  and there is no weight decay: a touched row's state only depends on its own gradients,
  and an untouched row (zero gradient history) does not move under dense Adam either.

Four single steps are also re-derived in NumPy from the papers' formulas (Yogi, NovoGrad,
LARS, Rprop), the four updates the TF Addons bug report names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers import (
    LARS,
    LBFGS,
    SAM,
    SWA,
    AdaBelief,
    AdaHessian,
    ConjugateGradient,
    GradientCentralization,
    LazyAdam,
    Lookahead,
    NovoGrad,
    RectifiedAdam,
    Rprop,
    Yogi,
)
from tests.optimizers.test_conformance import REGISTERED

SHAPE = (5, 3)
INDICES = np.array([1, 3, 1, 1, 4])
# Row 1 appears three times; the sign of its sum, (-0.5, -0.25, -1.0), differs from the
# sum of the duplicates' signs, (-1, 1, 1), in two columns (what Rprop's sign step reads).
VALUES = np.array([
    [2.0, -1.0, 0.5],
    [0.3, 0.2, -0.4],
    [-1.5, 0.25, -2.0],
    [-1.0, 0.5, 0.5],
    [0.7, -0.6, 0.1],
], "float32")
START = np.linspace(-1.0, 1.0, SHAPE[0] * SHAPE[1]).reshape(SHAPE).astype("float32")


def dense_gradient() -> np.ndarray:
    """The gradient the slices stand for, duplicates summed (independently of TensorFlow)."""
    dense = np.zeros(SHAPE, "float32")
    np.add.at(dense, INDICES, VALUES)
    return dense


def sparse_gradient() -> tf.IndexedSlices:
    return tf.IndexedSlices(tf.constant(VALUES), tf.constant(INDICES), tf.constant(SHAPE))


class _FixedClosure:
    """A closure whose loss is a constant and whose gradient is the given one, at any weights."""

    def __init__(self, gradient: Any) -> None:
        self.gradient = gradient

    def __call__(self) -> tuple[Any, list[Any]]:
        return tf.constant(1.0), [self.gradient]

    def hessian_vector_product(self, vectors: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        # H = diag(2): H z = 2 z.
        return tf.constant(1.0), [self.gradient], [2.0 * v for v in vectors]

    def with_gradient_transform(self, transform: Callable[[list[Any]], list[Any]]) -> Any:
        return _FixedClosure(transform([self.gradient])[0])


def _apply(optimizer: keras.optimizers.Optimizer, gradient: Any, variable: Any) -> None:
    if getattr(optimizer, "requires_closure", False):
        optimizer.apply_with_closure(_FixedClosure(gradient), [variable])
        return
    optimizer.scale_loss(tf.constant(1.0))  # the line-search optimizers read the loss here
    optimizer.apply([gradient], [variable])


# Registered name -> optimizer factory; hyperparameters make every term of the update
# matter (weight decay where the optimizer has one, AMSGrad off, wrappers around Yogi).
FACTORIES: dict[str, Callable[[], keras.optimizers.Optimizer]] = {
    "RectifiedAdam": lambda: RectifiedAdam(0.1, weight_decay=0.05, sma_threshold=0.0),
    "AdaBelief": lambda: AdaBelief(0.1, weight_decay=0.05, sma_threshold=0.0),
    "Yogi": lambda: Yogi(0.1),
    "NovoGrad": lambda: NovoGrad(0.1, weight_decay=0.05),
    "LARS": lambda: LARS(0.5, weight_decay=0.05, eta=0.1),
    "Rprop": lambda: Rprop(0.1),
    "LazyAdam": lambda: LazyAdam(0.1),
    "AdaHessian": lambda: AdaHessian(0.1, seed=3),
    "LBFGS": lambda: LBFGS(),
    "ConjugateGradient": lambda: ConjugateGradient(),
    "Lookahead": lambda: Lookahead(Yogi(0.1), sync_period=2),
    "SWA": lambda: SWA(Yogi(0.1), start_averaging=1, average_period=1),
    "GradientCentralization": lambda: GradientCentralization(Yogi(0.1)),
    "SAM": lambda: SAM(Yogi(0.1), rho=0.05),
}


def test_every_registered_optimizer_is_covered() -> None:
    names = {cls.__name__ for cls in REGISTERED}
    assert names == set(FACTORIES), f"missing: {names - set(FACTORIES)}"


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sparse_update_equals_dense_update(name: str) -> None:
    results = []
    for gradient in (sparse_gradient(), tf.constant(dense_gradient())):
        optimizer = FACTORIES[name]()
        variable = keras.Variable(START.copy(), name="embeddings")
        for _ in range(3):
            _apply(optimizer, gradient, variable)
        results.append(variable.numpy())
    sparse, dense = results
    assert not np.allclose(dense, START), "the dense update must move the variable"
    np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6)


def test_lazy_adam_moves_only_touched_rows_with_weight_decay() -> None:
    variable = keras.Variable(START.copy())
    LazyAdam(0.1, weight_decay=0.1).apply([sparse_gradient()], [variable])
    untouched = [0, 2]
    np.testing.assert_array_equal(variable.numpy()[untouched], START[untouched])
    assert not np.allclose(variable.numpy()[[1, 3, 4]], START[[1, 3, 4]])


@pytest.mark.parametrize("name", ["RectifiedAdam", "AdaBelief", "NovoGrad"])
def test_weight_decay_reaches_untouched_rows(name: str) -> None:
    # The documented choice: decay every row, as Keras's AdamW does for sparse gradients.
    variable = keras.Variable(START.copy())
    for _ in range(2):
        _apply(FACTORIES[name](), sparse_gradient(), variable)
    assert np.all(np.abs(variable.numpy()[[0, 2]]) < np.abs(START[[0, 2]]) + 1e-7)
    assert not np.allclose(variable.numpy()[[0, 2]], START[[0, 2]])


def test_embedding_gradients_repeat_indices() -> None:
    # The situation is real: a lookup with a repeated token gives repeated indices.
    table = keras.Variable(START.copy())
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(keras.ops.take(table, [1, 3, 1], axis=0) ** 2)
    gradient = tape.gradient(loss, table.value)
    assert isinstance(gradient, tf.IndexedSlices)
    assert list(gradient.indices.numpy()) == [1, 3, 1]


# ---------------------------------------------------------------------------
# One step re-derived in NumPy from each paper's update (float64)
# ---------------------------------------------------------------------------


def _one_sparse_step(optimizer: keras.optimizers.Optimizer) -> np.ndarray:
    variable = keras.Variable(START.copy())
    optimizer.apply([sparse_gradient()], [variable])
    return variable.numpy()


def test_yogi_step_in_numpy() -> None:
    w, g = START.astype("float64"), dense_gradient().astype("float64")
    lr, b1, b2, eps, v0 = 0.1, 0.9, 0.999, 1e-3, 1e-6
    v = v0 - (1 - b2) * np.sign(v0 - g**2) * g**2
    m = (1 - b1) * g
    expected = w - lr * np.sqrt(1 - b2) / (1 - b1) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(_one_sparse_step(Yogi(lr)), expected, rtol=1e-5, atol=1e-6)


def test_novograd_step_in_numpy() -> None:
    w, g = START.astype("float64"), dense_gradient().astype("float64")
    lr, wd, eps = 0.1, 0.05, 1e-7
    v = np.sum(g**2)  # the first second moment is ||g||^2 of the summed gradient
    m = g / (np.sqrt(v) + eps) + wd * w
    np.testing.assert_allclose(
        _one_sparse_step(NovoGrad(lr, weight_decay=wd)), w - lr * m, rtol=1e-5, atol=1e-6)


def test_lars_step_in_numpy() -> None:
    w, g = START.astype("float64"), dense_gradient().astype("float64")
    lr, wd, eta = 0.5, 0.05, 0.1
    w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
    trust = eta * w_norm / (g_norm + wd * w_norm)
    expected = w - lr * trust * (g + wd * w)
    np.testing.assert_allclose(
        _one_sparse_step(LARS(lr, weight_decay=wd, eta=eta)), expected, rtol=1e-5, atol=1e-6)


def test_rprop_step_in_numpy() -> None:
    w, g = START.astype("float64"), dense_gradient().astype("float64")
    expected = w - np.sign(g) * 0.1  # the first step moves by the initial step size
    np.testing.assert_allclose(_one_sparse_step(Rprop(0.1)), expected, rtol=1e-6)
