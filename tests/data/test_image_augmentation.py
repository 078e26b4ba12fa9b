"""RandAugment, AugMix and RandomErasing: Keras's layers, with the documented effects, reproducible per seed."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.build import build_data
from kerasopt.data.errors import DataError

SEED = tf.constant([7, 8], dtype=tf.int64)


def _images(n: int, side: int = 16, channels: int = 3) -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).uniform(0, 255, (n, side, side, channels)).astype(np.float32))


def test_random_erasing_erases_one_rectangle_of_the_scale_area_with_the_fill_value():
    n, side, low, high = 200, 32, 0.1, 0.3
    x = tf.fill([n, side, side, 3], 100.0)
    erase = Augmentation([{"type": "random_erasing", "p": 1.0, "scale": [low, high], "fill_value": 7.0}],
                         (side, side, 3))
    out = erase(x, tf.zeros([n]), SEED)[0].numpy()
    assert set(np.unique(out).tolist()) == {7.0, 100.0}
    fractions = []
    for image in out:
        erased = image[..., 0] == 7.0
        assert np.all((image == 7.0) == erased[..., None])  # all channels
        rows, cols = erased.any(axis=1), erased.any(axis=0)
        np.testing.assert_array_equal(erased, np.outer(rows, cols))  # one rectangle
        assert np.all(np.diff(np.flatnonzero(rows)) == 1) and np.all(np.diff(np.flatnonzero(cols)) == 1)
        fractions.append(erased.mean())
    # Sides sqrt(u) * 32 and sqrt(v) * 32 with u, v ~ U(0.1, 0.3), each covering its length +-1 pixel.
    assert (np.sqrt(low) * side - 1) ** 2 / side**2 <= min(fractions)
    assert max(fractions) <= (np.sqrt(high) * side + 1) ** 2 / side**2
    assert np.mean(fractions) == pytest.approx(np.mean([np.sqrt(u * v) for u, v in np.random.default_rng(0).uniform(
        low, high, (100_000, 2))]), abs=0.02)


def test_random_erasing_erases_a_share_p_of_the_images():
    n = 400
    erase = Augmentation([{"type": "random_erasing", "p": 0.5, "fill_value": 0.0}], (8, 8, 1))
    out = erase(tf.fill([n, 8, 8, 1], 50.0), tf.zeros([n]), SEED)[0].numpy()
    share = (out == 0).any(axis=(1, 2, 3)).mean()
    assert abs(share - 0.5) < 5 * 0.025  # 400 draws: standard error 0.025
    never = Augmentation([{"type": "random_erasing", "p": 0.0}], (8, 8, 1))
    np.testing.assert_array_equal(never(tf.fill([n, 8, 8, 1], 50.0), tf.zeros([n]), SEED)[0].numpy(), 50.0)


@pytest.mark.parametrize("kind, keras_class, arguments", [
    ("rand_augment", keras.layers.RandAugment, {"num_ops": 3, "factor": 0.7}),
    ("aug_mix", keras.layers.AugMix, {"num_chains": 2, "chain_depth": 2, "alpha": 0.5}),
])
def test_rand_augment_and_aug_mix_are_keras_layers_reproducible_per_seed(kind, keras_class, arguments):
    x = _images(6)
    augmentation = Augmentation([{"type": kind, "value_range": [0, 255], **arguments}], (16, 16, 3), seed=3)
    layer = augmentation._layers[0].layer
    assert type(layer) is keras_class
    config = layer.get_config()
    assert tuple(config["value_range"]) == (0, 255) and config["seed"] == 3
    assert all(config[k] == v or tuple(config[k]) == (0, v) for k, v in arguments.items())
    out, again = (augmentation(x, tf.zeros([6]), SEED)[0].numpy() for _ in range(2))
    other = augmentation(x, tf.zeros([6]), SEED + 1)[0].numpy()
    assert out.shape == (6, 16, 16, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other) and not np.array_equal(out, x.numpy())


def test_validation_and_test_data_are_never_augmented():
    bundle = build_data("synthetic", {"samples": 120, "input_shape": [20, 2], "num_classes": 2}, batch_size=8,
                        shuffle=False, augmentation=[{"type": "jitter", "sigma": 0.5}])
    train = np.concatenate([x.numpy() for x, _ in bundle.train])
    assert np.abs(train - bundle.x_train).mean() > 0.3
    for dataset, raw in ((bundle.validation, bundle.x_val), (bundle.test, bundle.x_test)):
        np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in dataset]), raw)


def test_the_training_data_must_lie_in_value_range():
    with pytest.raises(DataError, match=r"`value_range` must hold the training inputs, which lie in \[-\d.*"
                                        r"value_range=\[0, 255\]"):
        build_data("synthetic", {"samples": 40, "input_shape": [4, 4, 1], "num_classes": 2},
                   augmentation=[{"type": "rand_augment"}])
