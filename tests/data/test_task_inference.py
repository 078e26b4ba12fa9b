"""The task is read off the targets when they are unambiguous, and asked for otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasopt.data.build import build_data
from kerasopt.data.errors import DataError
from kerasopt.data.sources.csv_file import CsvFile
from kerasopt.data.sources.npz_file import NpzFile
from kerasopt.data.task_inference import infer_task

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("y, task", [
    (np.array(["cat", "dog"] * 50), "classification"),          # text
    (np.array([True, False] * 5), "classification"),            # booleans
    (RNG.normal(size=(40, 3)), "regression"),                   # 3 values per sample
    (np.array([1.0, 2.0, 2.5, 3.0]), "regression"),             # one fractional value decides
    (np.arange(12) % 10, "classification"),                     # 10 distinct: always classes
    (np.arange(1000) % 30, "classification"),                   # 30 <= 50 and 30 <= 0.1 * 1000
    (np.arange(100) % 30, None),                                # 30 > 0.1 * 100: ambiguous
    (np.arange(10_000) % 51, None),                             # 51 > 50: ambiguous
    (np.array([[0], [1], [1], [0]]), "classification"),         # (n, 1) labels
    (np.array([0.0, np.nan, 1.0]), None),                       # not finite
])
def test_inference_rules(y, task):
    assert infer_task(y).task == task


def test_scikit_learn_tables(tables):
    # breast_cancer: 2 classes; wine: 3; diabetes: 214 distinct whole numbers over 442 samples.
    decided = {name: infer_task(np.load(files["npz"])["y"]) for name, files in tables.items()}
    assert (decided["breast_cancer"].task, decided["breast_cancer"].distinct) == ("classification", 2)
    assert (decided["wine"].task, decided["wine"].distinct) == ("classification", 3)
    assert (decided["diabetes"].task, decided["diabetes"].distinct) == (None, 214)
    assert decided["diabetes"].reason == "214 distinct whole numbers over 442 samples"


def test_a_fractional_csv_target_is_regression_not_hundreds_of_classes(tmp_path, tables):
    # The diabetes target scaled to fractions: before task inference, each value became a class.
    lines = Path(tables["diabetes"]["csv"]).read_text(encoding="utf-8").splitlines()
    rows = [line.rsplit(",", 1) for line in lines[1:]]
    (tmp_path / "d.csv").write_text("\n".join([lines[0]] + [f"{a},{float(b) / 7:.4f}" for a, b in rows]))
    data = CsvFile({"path": str(tmp_path / "d.csv"), "target": "target"}).load(0)
    assert data.task == "regression" and data.num_classes is None and data.y.dtype == np.float32
    np.testing.assert_allclose(data.y[:3], np.round([151 / 7, 75 / 7, 141 / 7], 4), rtol=1e-6)


def test_declared_task_wins_and_ambiguity_is_an_error(tables):
    with pytest.raises(DataError, match=r"214 distinct whole numbers.*Set `task: regression`"):
        NpzFile({"path": tables["diabetes"]["npz"]}).load(0)
    regression = NpzFile({"path": tables["diabetes"]["npz"], "task": "regression"}).load(0)
    assert regression.task == "regression" and regression.y[:2].tolist() == [151.0, 75.0]
    wine = CsvFile({"path": tables["wine"]["csv"], "target": "target"}).load(0)
    assert wine.task == "classification" and wine.class_names == ["1", "2", "3"]
    assert np.bincount(wine.y).tolist() == [59, 71, 48]  # load_wine's class counts


def test_the_bundle_reports_task_and_target_shape(tmp_path, tables):
    bundle = build_data("csv", {"path": tables["diabetes"]["csv"], "target": "target"},
                        loss="mean_squared_error", validation_split=0.0)
    assert bundle.task == "regression" and bundle.target_shape == ()
    assert bundle.output.head == (1, "linear") and bundle.summary()["label_format"] == "regression"
    x = np.load(tables["diabetes"]["npz"])["x"]
    np.savez(tmp_path / "two.npz", x=x, y=np.stack([x[:, 0] * 3, x[:, 1] - x[:, 2]], axis=1))
    bundle = build_data("npz", {"path": str(tmp_path / "two.npz")}, validation_split=0.0)
    assert bundle.task == "regression" and bundle.target_shape == (2,)
    assert bundle.output.head == (2, "linear") and bundle.summary()["target_shape"] == [2]
    _, targets = next(iter(bundle.train))
    assert tuple(targets.shape) == (32, 2)
