"""`build_data` end to end: pipelines, batch sizes, soft labels, seeds and argument errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.data.build import build_data
from kerasopt.data.errors import DataError

SYNTH = {"samples": 200, "input_shape": [6], "num_classes": 3}


def _first(dataset):
    x, y = next(iter(dataset))
    return x.numpy(), y.numpy()


def test_bundle_fields_and_raw_pipelines():
    bundle = build_data("synthetic", SYNTH, batch_size=16, validation_split=0.1, shuffle=False)
    assert bundle.input_shape == (6,) and bundle.num_classes == 3 and bundle.task == "classification"
    assert (len(bundle.x_train), len(bundle.x_val), len(bundle.x_test)) == (144, 16, 40)
    assert bundle.steps_per_epoch == 9 and bundle.batch_size == 16 and bundle.normalizer is None
    x, y = _first(bundle.train)
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x, bundle.x_train[:16])  # shuffle off: in order, raw
    np.testing.assert_array_equal(y, bundle.y_train[:16])
    assert sum(1 for _ in bundle.test) == 3  # 40 test samples in batches of 16
    assert bundle.summary()["train_samples"] == 144


def test_full_batch_gives_one_batch_per_epoch():
    bundle = build_data("digits", {}, batch_size="full", limit=300)
    batches = list(bundle.train)
    assert len(batches) == 1 and bundle.steps_per_epoch == 1
    assert batches[0][0].shape[0] == len(bundle.x_train) == bundle.batch_size == 270


def test_shuffling_and_augmentation_follow_the_seed():
    augmentation = [{"type": "noise", "stddev": 0.1}, {"type": "mixup", "alpha": 0.3}]
    a = build_data("synthetic", SYNTH, seed=4, augmentation=augmentation)
    b = build_data("synthetic", SYNTH, seed=4, augmentation=augmentation)
    c = build_data("synthetic", SYNTH, seed=5, augmentation=augmentation)
    first_a, first_b = _first(a.train), _first(b.train)
    np.testing.assert_array_equal(first_a[0], first_b[0])
    np.testing.assert_array_equal(first_a[1], first_b[1])
    assert not np.array_equal(first_a[0], _first(c.train)[0][: len(first_a[0])])
    epochs = [np.concatenate([x.numpy() for x, _ in a.train]) for _ in range(2)]
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled and re-augmented per epoch


def test_soft_labels_make_every_split_one_hot():
    bundle = build_data("digits", {"image": True}, limit=200,
                        augmentation=[{"type": "cutmix", "alpha": 1.0}])
    assert bundle.soft_labels
    for dataset in (bundle.train, bundle.validation, bundle.test):
        _, y = _first(dataset)
        assert y.shape[1] == 10 and y.dtype == np.float32
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    _, y_val = _first(bundle.validation)
    np.testing.assert_array_equal(y_val.argmax(axis=1), bundle.y_val[: len(y_val)])
    assert bundle.y_train.dtype == np.int32  # the arrays keep integer labels


def test_a_model_trains_on_the_bundle_with_the_normalizer_first():
    keras.utils.set_random_seed(0)
    bundle = build_data("synthetic", {**SYNTH, "samples": 400, "noise": 0.0},
                        normalization="standardize", batch_size=32)
    model = keras.Sequential([keras.Input(bundle.input_shape), bundle.normalizer,
                              keras.layers.Dense(bundle.num_classes, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # The dataset is already shuffled; Keras warns if fit() is also asked to shuffle.
    model.fit(bundle.train, validation_data=bundle.validation, epochs=5, verbose=0, shuffle=False)
    _, accuracy = model.evaluate(bundle.test, verbose=0)
    assert accuracy > 0.8  # a linear teacher with noise 0 is learnable by a linear model


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, r"`batch_size` must be an integer >= 1 or 'full'. Received: batch_size=0"),
    ({"batch_size": "all"}, r"batch_size='all'"),
    ({"normalization": "z"}, r"`normalization` must be one of none, minmax, standardize"),
    ({"shuffle": "yes"}, r"`shuffle` must be true or false. Received: shuffle='yes'"),
    ({"seed": -1}, r"`seed` must be an integer >= 0"),
    ({"validation_split": -0.1}, r"`validation_split` must be in \[0, 1\)"),
    ({"augmentation": [{"type": "flip"}]}, r"augmentation\[0\] has an unknown type 'flip'"),
])
def test_argument_errors_name_the_argument(kwargs, message):
    with pytest.raises(DataError, match=message):
        build_data("synthetic", SYNTH, **kwargs)


def test_option_errors_name_the_option():
    with pytest.raises(DataError, match=r"Unknown data option 'sample' for source 'synthetic'. Did you mean 'samples'"):
        build_data("synthetic", {"sample": 3})
    with pytest.raises(DataError, match=r"`image` of source 'digits' must be a boolean. Received: image='yes'"):
        build_data("digits", {"image": "yes"})
    with pytest.raises(DataError, match=r"Unknown data source 'cifar'"):
        build_data("cifar", {})
