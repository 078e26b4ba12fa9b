"""MixUp, CutMix, crop, noise and flips do what the papers say, on batches, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.data import mixing
from kerasopt.data.augmentation import Augmentation
from kerasopt.data.errors import DataError

SEED = tf.constant([3, 4], dtype=tf.int64)


def test_mixup_is_a_convex_combination_with_the_same_label_mix():
    n, alpha = 1000, 0.4
    x = np.eye(n, dtype=np.float32)  # sample i is e_i, so a mix reads off its weights
    y = np.eye(n, dtype=np.float32)[:, ::-1].copy()  # labels: a different one-hot per sample
    xm, ym = (t.numpy() for t in mixing.mixup(tf.constant(x), tf.constant(y), alpha, SEED))
    partner = np.where(np.eye(n, dtype=bool), -1.0, xm).argmax(axis=1)
    lam = np.diag(xm).copy()
    moved = xm[np.arange(n), partner] > 0  # samples whose partner is another sample
    lam[~moved] = 1.0
    np.testing.assert_allclose(xm.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all((xm >= 0) & (np.count_nonzero(xm, axis=1)[:, None] <= 2))
    expected_y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    np.testing.assert_allclose(ym, expected_y, atol=1e-6)
    assert len(set(partner[moved])) == moved.sum()  # partners come from a permutation
    # lam ~ Beta(0.4, 0.4): mean 1/2, variance 1 / (4 (2 alpha + 1)) = 0.1389.
    assert abs(lam[moved].mean() - 0.5) < 0.04
    assert abs(lam[moved].var() - 1 / (4 * (2 * alpha + 1))) < 0.02


def test_cutmix_pastes_a_box_and_mixes_labels_by_its_area():
    n = 64
    x = np.broadcast_to(np.arange(1, n + 1, dtype=np.float32)[:, None, None, None],
                        (n, 8, 6, 1)).copy()
    y = np.eye(n, dtype=np.float32)
    xm, ym = (t.numpy() for t in mixing.cutmix(tf.constant(x), tf.constant(y), 1.0, SEED))
    pasted_fractions = []
    for i in range(n):
        image = xm[i, :, :, 0]
        values = set(np.unique(image).tolist())
        pasted = image != i + 1
        fraction = pasted.mean()
        pasted_fractions.append(fraction)
        assert len(values - {i + 1}) <= 1
        if fraction == 0:
            assert ym[i, i] == pytest.approx(1.0)
            continue
        j = int(image[pasted][0]) - 1
        rows, cols = pasted.any(axis=1), pasted.any(axis=0)
        np.testing.assert_array_equal(pasted, np.outer(rows, cols))  # one rectangle
        assert np.all(np.diff(np.flatnonzero(rows)) == 1) and np.all(np.diff(np.flatnonzero(cols)) == 1)
        assert ym[i, i] == pytest.approx(1 - fraction, abs=1e-6)
        assert ym[i, j] == pytest.approx(fraction, abs=1e-6)
    assert 0.15 < np.mean(pasted_fractions) < 0.6  # E[1 - lam] = 1/2 before border clipping


def test_cutmix_on_sequences_cuts_one_segment():
    n = 32
    x = np.broadcast_to(np.arange(1, n + 1, dtype=np.float32)[:, None, None], (n, 20, 2)).copy()
    xm, ym = (t.numpy() for t in mixing.cutmix(tf.constant(x), tf.constant(np.eye(n, dtype=np.float32)), 1.0, SEED))
    for i in range(n):
        pasted = xm[i, :, 0] != i + 1
        np.testing.assert_array_equal(xm[i, :, 0], xm[i, :, 1])
        if pasted.any():
            assert np.all(np.diff(np.flatnonzero(pasted)) == 1)
        assert ym[i, i] == pytest.approx(1 - pasted.mean(), abs=1e-6)


def test_random_crop_shifts_each_sample_independently():
    n, steps, pad = 64, 10, 2
    x = np.tile(np.arange(1, steps + 1, dtype=np.float32)[None, :, None], (n, 1, 1))
    aug = Augmentation([{"type": "random_crop", "padding": pad}], (steps, 1))
    out, _ = aug(tf.constant(x), tf.zeros([n]), SEED)
    padded = np.r_[np.zeros(pad), np.arange(1, steps + 1), np.zeros(pad)]
    shifts = []
    for row in out.numpy()[:, :, 0]:
        matches = [s for s in range(2 * pad + 1) if np.array_equal(row, padded[s:s + steps])]
        assert len(matches) == 1
        shifts.append(matches[0])
    assert set(shifts) == set(range(2 * pad + 1))  # per-sample offsets, all 5 used
    images = np.random.default_rng(0).normal(size=(4, 6, 5, 3)).astype(np.float32)
    aug2d = Augmentation([{"type": "random_crop", "padding": 1}], (6, 5, 3))
    assert aug2d(tf.constant(images), tf.zeros([4]), SEED)[0].shape == (4, 6, 5, 3)


def test_noise_and_flip():
    aug = Augmentation([{"type": "noise", "stddev": 0.5}], (100,))
    out, y = aug(tf.zeros([200, 100]), tf.zeros([200]), SEED)
    # 20,000 draws: standard errors 0.0025 (std) and 0.0035 (mean); allow 5 of them.
    assert abs(float(tf.math.reduce_std(out)) - 0.5) < 0.0125
    assert abs(float(tf.reduce_mean(out))) < 0.018
    x = np.random.default_rng(1).normal(size=(32, 4, 5, 1)).astype(np.float32)
    flip = Augmentation([{"type": "random_flip"}], (4, 5, 1), seed=2)
    flipped = flip(tf.constant(x), tf.zeros([32]), SEED)[0].numpy()
    same = [np.allclose(f, a) for f, a in zip(flipped, x, strict=True)]
    mirrored = [np.allclose(f, a[:, ::-1]) for f, a in zip(flipped, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True)) and any(mirrored) and any(same)
    seq = Augmentation([{"type": "random_translation", "width_factor": 0.2}], (12, 2))
    assert seq(tf.ones([3, 12, 2]), tf.zeros([3]), SEED)[0].shape == (3, 12, 2)


@pytest.mark.parametrize("spec, shape", [
    ({"type": "random_flip"}, (4, 5, 1)),
    ({"type": "random_translation", "width_factor": 0.3, "height_factor": 0.3}, (6, 6, 1)),
    ({"type": "random_translation", "width_factor": 0.3}, (12, 2)),
])
def test_flip_and_translation_follow_the_batch_seed_alone(spec, shape):
    # A resumed run rebuilds the pipeline and sees each batch's seed again: the output must
    # depend on (batch, seed) only, not on how many batches a layer's own generator served.
    x = tf.constant(np.random.default_rng(3).normal(size=(64, *shape)).astype(np.float32))
    first = Augmentation([spec], shape, seed=5)
    step = tf.function(lambda x, seed: first(x, tf.zeros([64]), seed)[0])
    a = step(x, SEED).numpy()
    step(x, tf.constant([9, 9], tf.int64))  # another batch in between
    again = Augmentation([spec], shape, seed=5)  # a fresh pipeline, as after a resume
    b = tf.function(lambda x, seed: again(x, tf.zeros([64]), seed)[0])(x, SEED).numpy()
    other = step(x, tf.constant([9, 9], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(step(x, SEED).numpy(), a)
    assert not np.array_equal(a, other) and not np.array_equal(a, x.numpy())


@pytest.mark.parametrize("specs, shape, task, message", [
    ([{"type": "mixupp"}], (4,), "classification", r"unknown type 'mixupp'. Did you mean 'mixup'"),
    ([{"type": "noise", "std": 1}], (4,), "classification", r"unknown argument 'std'.*stddev"),
    ([{"type": "noise", "stddev": -1}], (4,), "classification", r"`stddev` must be a number > 0.*stddev=-1"),
    ([{"type": "random_flip"}], (4,), "classification", r"random_flip' needs images.*\(4,\)"),
    ([{"type": "mixup"}], (4,), "regression", r"mixup' mixes class labels.*regression"),
    ([{"type": "mixup"}, {"type": "cutmix"}], (4, 4, 1), "classification", "at most one of mixup"),
    ([{"type": "random_flip", "mode": "vertical"}], (8, 1), "classification", "mode must be 'horizontal'"),
    (["noise"], (4,), "classification", r"augmentation\[0\] must be a mapping with a `type`"),
    ([{"type": "rand_augment"}], (40, 1), "classification", r"'rand_augment' needs images \(h, w, c\).*\(40, 1\)"),
    ([{"type": "time_warp"}], (8, 8, 3), "classification", r"'time_warp' needs time series.*\(8, 8, 3\)"),
    ([{"type": "window_slice", "ratio": 0.1}], (10,), "classification", r"ceil\(ratio \* steps\).*ratio=0.1"),
    ([{"type": "jitter", "sigma": float("inf")}], (10,), "classification", r"`sigma` must be a finite number > 0"),
    ([{"type": "aug_mix", "all_ops": 1}], (8, 8, 3), "classification", r"`all_ops` must be true or false"),
])
def test_augmentation_errors(specs, shape, task, message):
    with pytest.raises(DataError, match=message):
        Augmentation(specs, shape, task)
