"""Splits are disjoint, stratified, seeded, and honour `limit`; impossible splits explain why."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.data.errors import DataError
from kerasopt.data.source import SourceData
from kerasopt.data.splits import split_data


def _data(n=300, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)  # every row unique: rows identify samples
    y = (np.arange(n) % classes).astype(np.int32)
    y[: n // 10] = 0  # unbalanced on purpose
    return SourceData(x=x, y=y, task="classification", class_names=[str(c) for c in range(classes)])


def _rows(x):
    return {row.tobytes() for row in x}


def test_splits_are_disjoint_and_cover_the_data():
    data = _data()
    s = split_data(data, validation_split=0.25, test_split=0.2, seed=3)
    train, val, test = _rows(s.x_train), _rows(s.x_val), _rows(s.x_test)
    assert not (train & val or train & test or val & test)
    assert train | val | test == _rows(data.x)
    assert (len(s.x_test), len(s.x_val), len(s.x_train)) == (60, 60, 180)


def test_splits_are_stratified_within_one_sample():
    data = _data(n=301)
    s = split_data(data, validation_split=0.3, test_split=0.25, seed=1)
    whole = np.bincount(data.y) / len(data.y)
    for y in (s.y_train, s.y_val, s.y_test):
        expected = whole * len(y)
        assert np.all(np.abs(np.bincount(y, minlength=3) - expected) <= 1.0)


def test_splits_follow_the_seed():
    data = _data()
    a = split_data(data, seed=5)
    b = split_data(data, seed=5)
    c = split_data(data, seed=6)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert _rows(a.x_test) != _rows(c.x_test)


def test_own_test_set_and_limit():
    data = _data()
    own = SourceData(x=data.x[:200], y=data.y[:200], x_test=data.x[200:], y_test=data.y[200:],
                     task="classification", class_names=data.class_names)
    s = split_data(own, validation_split=0.1, limit=50, seed=0)
    np.testing.assert_array_equal(s.x_test, data.x[200:])  # untouched by the split and limit
    assert (len(s.x_train), len(s.x_val)) == (45, 5)
    assert _rows(s.x_train) | _rows(s.x_val) <= _rows(data.x[:200])
    with pytest.raises(DataError, match=r"`test_split` must be left unset.*test_split=0.1"):
        split_data(own, test_split=0.1)


def test_regression_is_not_stratified_and_validation_can_be_off():
    rng = np.random.default_rng(0)
    data = SourceData(x=rng.normal(size=(50, 2)), y=rng.normal(size=50).astype(np.float32),
                      task="regression", class_names=None)
    s = split_data(data, validation_split=0.0, test_split=0.5, seed=0)
    assert s.x_val is None and len(s.x_train) == 25 and len(s.x_test) == 25


def test_split_errors_name_the_option():
    data = _data(n=30)
    with pytest.raises(DataError, match=r"`validation_split` must be in \[0, 1\).*=1.0"):
        split_data(data, validation_split=1.0)
    with pytest.raises(DataError, match=r"`test_split` must be in \(0, 1\).*test_split=0"):
        split_data(data, test_split=0)
    with pytest.raises(DataError, match=r"`limit` must be an integer >= 2.*limit=1"):
        split_data(data, limit=1)
    lonely = SourceData(x=data.x, y=np.r_[np.zeros(29, np.int32), [1]].astype(np.int32),
                        task="classification", class_names=["0", "1"])
    with pytest.raises(DataError, match=r"stratified split `test_split`.*class 1 has 1 sample.*stratify: false"):
        split_data(lonely)
    s = split_data(lonely, stratify=False, validation_split=0.0)
    assert len(s.x_train) == 24
