"""The shared mask mechanism keeps masked weights at exactly zero under momentum optimizers."""

import keras
import numpy as np
import pytest

from kerasopt.compression.masking import MaskConstraint, attach_mask, detach_mask


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_masked_entries_stay_zero_under_stateful_optimizers(optimizer):
    rng = np.random.default_rng(0)
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    mask = (rng.random((4, 3)) > 0.5).astype("float32")
    attach_mask(layer.kernel, keras.Variable(mask, trainable=False))
    assert np.all(keras.ops.convert_to_numpy(layer.kernel)[mask == 0] == 0)
    opt = (keras.optimizers.SGD(0.1, momentum=0.9) if optimizer == "sgd_momentum"
           else keras.optimizers.Adam(0.1))
    x = rng.normal(size=(8, 4)).astype("float32")
    for _ in range(5):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.sum(layer(x) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
        opt.apply(grads, layer.trainable_variables)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert np.all(kernel[mask == 0] == 0)
    assert np.count_nonzero(kernel[mask == 1]) == int(mask.sum())


def test_attach_keeps_earlier_constraint_and_detach_restores_it():
    layer = keras.layers.Dense(2, kernel_constraint=keras.constraints.NonNeg())
    layer.build((None, 2))
    attach_mask(layer.kernel, np.array([[1, 0], [1, 1]], "float32"))
    attach_mask(layer.kernel, np.array([[1, 1], [0, 1]], "float32"))  # replaces, does not stack
    constraint = layer.kernel.constraint
    assert isinstance(constraint, MaskConstraint)
    assert isinstance(constraint.previous, keras.constraints.NonNeg)
    out = keras.ops.convert_to_numpy(constraint(keras.ops.convert_to_tensor([[-1.0, 2.0], [3.0, 4.0]])))
    np.testing.assert_array_equal(out, [[0.0, 2.0], [0.0, 4.0]])
    detach_mask(layer.kernel)
    assert isinstance(layer.kernel.constraint, keras.constraints.NonNeg)


def test_shape_mismatch_names_the_weight():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="kernel"):
        attach_mask(layer.kernel, np.ones((2, 2), "float32"))
