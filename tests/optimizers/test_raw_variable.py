"""Every kerasopt optimizer and wrapper updates a raw `tf.Variable` as it updates a Keras one.

Keras's own optimizers accept raw TensorFlow variables (what a custom TF training loop
holds); a raw variable has a `name` but no `path`, which NovoGrad's per-variable slot
names once required ("'ResourceVariable' object has no attribute 'path'"). For each
registered optimizer (the factories of `test_sparse_gradients`), three steps on the
quadratic f(w) = 0.5 sum(c w^2) must give a raw variable the same values as a
`keras.Variable` started at the same point, and lower the loss.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.optimizers.test_sparse_gradients import FACTORIES

CURVATURE = np.array([1.0, 10.0, 0.5], "float32")
START = np.array([1.0, -0.5, 2.0], "float32")


def _loss(w: np.ndarray) -> float:
    return float(0.5 * np.sum(CURVATURE * w**2))


class _QuadraticClosure:
    """Loss, gradient and Hessian-vector products of f at the variable's current value."""

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def __call__(self) -> tuple[Any, list[Any]]:
        w = tf.convert_to_tensor(self.variable)
        return 0.5 * tf.reduce_sum(CURVATURE * w**2), [CURVATURE * w]

    def hessian_vector_product(self, vectors: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        loss, grads = self()
        return loss, grads, [CURVATURE * vectors[0]]

    def with_gradient_transform(self, transform: Any) -> Any:
        return self  # the wrappers tested here pass gradients through unchanged


def _three_steps(name: str, variable: Any) -> np.ndarray:
    optimizer = FACTORIES[name]()
    for _ in range(3):
        if getattr(optimizer, "requires_closure", False):
            optimizer.apply_with_closure(_QuadraticClosure(variable), [variable])
            continue
        w = tf.convert_to_tensor(variable)
        optimizer.scale_loss(0.5 * tf.reduce_sum(CURVATURE * w**2))  # line searches read it
        optimizer.apply([CURVATURE * w], [variable])
    return np.asarray(variable.numpy())


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_raw_tf_variable(name: str) -> None:
    raw = tf.Variable(START.copy(), name="raw")
    got = _three_steps(name, raw)
    want = _three_steps(name, keras.Variable(START.copy(), name="kept"))
    assert isinstance(raw, tf.Variable)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert _loss(got) < _loss(START)
