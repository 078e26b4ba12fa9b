"""`make_dataset(..., epoch=variable)`: pass `e` is a function of `(seed, e)` alone, endless or not."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.errors import DataError
from kerasopt.data.pipeline import make_dataset, make_training_datasets


def _pass(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset]


@pytest.mark.parametrize(("size", "batch"), [(23, 5), (20, 5), (4, 10)])
def test_pass_e_is_the_permutation_seeded_by_seed_and_e_cut_into_batches(size, batch):
    x = np.arange(size * 3, dtype=np.float32).reshape(size, 3)
    y = np.arange(size) % 4
    epoch = tf.Variable(0, dtype=tf.int64)
    dataset = make_dataset(x, y, batch_size=batch, shuffle=True, seed=11, epoch=epoch)
    assert int(dataset.cardinality()) == -(-size // batch)
    first, second = _pass(dataset), _pass(dataset)
    assert int(epoch.numpy()) == 2  # each pass numbers itself
    epoch.assign(1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(_pass(dataset), second, strict=True))
    for e, batches in ((0, first), (1, second)):
        order = tf.random.experimental.stateless_shuffle(tf.range(size, dtype=tf.int64), seed=[11, e]).numpy()
        assert sorted(order) == list(range(size)) and order.tolist() != list(range(size))
        want = [order[i:i + batch] for i in range(0, size, batch)]
        assert [len(b[0]) for b in batches] == [len(w) for w in want]
        for (got_x, got_y), indices in zip(batches, want, strict=True):
            np.testing.assert_array_equal(got_x, x[indices])
            np.testing.assert_array_equal(got_y, y[indices])
            assert got_x.dtype == np.float32


def test_without_shuffle_batches_keep_the_order_and_labels_are_encoded():
    x = np.arange(14, dtype=np.uint8).reshape(7, 2)
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    dataset = make_dataset(x, y, batch_size=3, shuffle=False, epoch=tf.Variable(5, dtype=tf.int64),
                           label_format="one_hot", num_classes=3)
    batches = _pass(dataset)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.eye(3, dtype=np.float32)[y])
    assert [len(b[0]) for b in batches] == [3, 3, 1]


def test_batch_i_of_pass_e_is_augmented_with_the_seed_folded_from_seed_e_and_i():
    x = np.zeros((9, 4, 1), np.float32)  # all noise: each batch shows its own seed's draw
    augmentation = Augmentation([{"type": "noise", "stddev": 1.0}], (4, 1))
    epoch = tf.Variable(2, dtype=tf.int64)
    batches = _pass(make_dataset(x, np.zeros(9, int), batch_size=4, shuffle=False, seed=7, epoch=epoch,
                                 augmentation=augmentation))
    for i, (got, _) in enumerate(batches):
        seed = tf.random.experimental.stateless_fold_in(tf.constant([7, 2], tf.int64), tf.constant(i, tf.int64))
        want, _ = augmentation(tf.zeros((len(got), 4, 1)), tf.zeros(len(got), tf.int64), seed)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)
    assert not np.allclose(batches[0][0][:1], batches[1][0][:1])


@pytest.mark.parametrize("kind", ["plain", "augmented", "one_hot"])
def test_endless_passes_are_the_numbered_passes_from_the_variable_on_and_leave_it(kind):
    x = np.arange(23 * 4, dtype=np.float32).reshape(23, 4, 1)
    y = np.arange(23) % 3
    options = {"plain": {}, "one_hot": {"label_format": "one_hot", "num_classes": 3},
               "augmented": {"augmentation": Augmentation([{"type": "noise", "stddev": 1.0}], (4, 1))}}[kind]
    epoch = tf.Variable(3, dtype=tf.int64)
    one, endless = make_training_datasets(x, y, batch_size=5, epoch=epoch, shuffle=True, seed=4, **options)
    assert int(endless.cardinality()) == tf.data.INFINITE_CARDINALITY
    passes = [_pass(one) for _ in range(3)]  # passes 3, 4, 5
    assert int(epoch.numpy()) == 6
    epoch.assign(4)
    got = [(a.numpy(), b.numpy()) for a, b in endless.take(2 * 5)]  # passes 4 and 5, 5 batches each
    assert int(epoch.numpy()) == 4
    want = passes[1] + passes[2]
    assert len(got) == len(want) == 10
    for (got_x, got_y), (want_x, want_y) in zip(got, want, strict=True):
        np.testing.assert_array_equal(got_x, want_x)
        np.testing.assert_array_equal(got_y, want_y)
    assert not np.array_equal(passes[1][0][0], passes[2][0][0])  # the passes differ
    alone = make_dataset(x, y, batch_size=5, epoch=epoch, shuffle=True, seed=4, endless=True, **options)
    np.testing.assert_array_equal(next(iter(alone))[0].numpy(), want[0][0])


def test_endless_needs_the_epoch_variable():
    with pytest.raises(DataError, match=r"`endless=True` needs the `epoch` variable.*epoch=None"):
        make_dataset(np.zeros((4, 2), np.float32), np.zeros(4, int), batch_size=2, endless=True)


def test_both_training_forms_need_the_epoch_variable():
    with pytest.raises(DataError, match=r"`endless=True` needs the `epoch` variable.*epoch=None"):
        make_training_datasets(np.zeros((4, 2), np.float32), np.zeros(4, int), batch_size=2, epoch=None)
