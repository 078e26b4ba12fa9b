"""`check_data` finds each data problem, with its key and suggestions, before TensorFlow starts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kerasopt.data.errors import DataError
from kerasopt.data.precheck import DataProblem, check_data
from kerasopt.data.sources.csv_file import CsvFile
from kerasopt.data.sources.npz_file import NpzFile


def _keys(problems):
    return [(p.section, p.key) for p in problems]


def test_good_files_have_no_problems(tables):
    assert check_data("csv", {"path": tables["breast_cancer"]["csv"], "target": "target"}) == []
    assert check_data("npz", {"path": tables["wine"]["npz"]}) == []
    assert check_data("npz", {"path": tables["diabetes"]["npz"], "task": "regression"}) == []


def test_online_and_built_in_sources_have_nothing_to_check():
    for source, options in (("keras_dataset", {"name": "mnist"}), ("tfds", {"name": "mnist"}),
                            ("mnist1d", {}), ("digits", {}), ("synthetic", {"task": "regression"})):
        assert check_data(source, options) == []


def test_missing_path_suggests_the_file_next_to_it(tables):
    wrong = tables["wine"]["csv"].replace("wine.csv", "wien.csv")
    [problem] = check_data("csv", {"path": wrong, "target": "target"})
    assert (problem.key, problem.received) == ("path", wrong)
    assert problem.suggestions[0] == tables["wine"]["csv"]
    assert "does not exist" in problem.message
    [problem] = check_data("image_folder", {"directory": tables["wine"]["csv"]})
    assert problem.key == "directory" and "must be a directory" in problem.message


def test_csv_columns_get_did_you_mean_over_the_header(tables):
    path = tables["breast_cancer"]["csv"]
    [problem] = check_data("csv", {"path": path, "target": "targt"})
    assert problem.key == "target" and problem.suggestions == ["target"]
    assert problem.allowed[:2] == ["mean_radius", "mean_texture"] and len(problem.allowed) == 31
    [problem] = check_data("csv", {"path": path, "target": "target",
                                   "features": ["mean_radius", "mean_textur"]})
    assert problem.key == "features" and problem.received == ["mean_textur"]
    assert problem.suggestions == ["mean_texture"]
    with pytest.raises(DataError, match=r"`target`.*Received: target='targt'.*Did you mean 'target'"):
        CsvFile({"path": path, "target": "targt"}).load(0)


def test_npz_keys_get_did_you_mean(tables):
    [problem] = check_data("npz", {"path": tables["wine"]["npz"], "x_key": "X"})
    assert (problem.key, problem.received, problem.allowed) == ("x_key", "X", ["x", "y"])
    assert problem.suggestions == ["x"]


def test_nan_and_inf_in_features(tmp_path, tables):
    x = np.load(tables["wine"]["npz"])["x"].copy()
    y = np.load(tables["wine"]["npz"])["y"]
    x[7, 3] = np.nan
    x[9, 0] = np.inf
    np.savez(tmp_path / "nan.npz", x=x, y=y)
    [problem] = check_data("npz", {"path": str(tmp_path / "nan.npz")})
    assert problem.key == "x_key" and "2 NaN or infinite" in problem.message
    assert "sample 7, feature 3" in problem.message
    with pytest.raises(DataError, match="sample 7, feature 3"):
        NpzFile({"path": str(tmp_path / "nan.npz")}).load(0)
    # A value beyond float32's range becomes inf when the model gets it.
    x[7, 3], x[9, 0] = 1.0, 1e39
    np.savez(tmp_path / "big.npz", x=x, y=y)
    assert _keys(check_data("npz", {"path": str(tmp_path / "big.npz")})) == [("data", "x_key")]
    lines = Path(tables["wine"]["csv"]).read_text().splitlines()
    lines[5] = "nan," + lines[5].split(",", 1)[1]
    (tmp_path / "nan.csv").write_text("\n".join(lines) + "\n")
    [problem] = check_data("csv", {"path": str(tmp_path / "nan.csv"), "target": "target"})
    assert problem.key == "features" and "sample 4, feature 0" in problem.message


def test_text_in_a_feature_column_names_row_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,x,1\n4,5,0\n")
    [problem] = check_data("csv", {"path": str(tmp_path / "t.csv"), "target": "label"})
    assert problem.key == "features" and problem.received == "x"
    assert "Column 'b', row 3" in problem.message


def test_a_single_class_and_an_empty_class_folder(tmp_path, tables):
    x = np.load(tables["wine"]["npz"])["x"]
    np.savez(tmp_path / "one.npz", x=x[:50], y=np.ones(50, dtype=int))
    [problem] = check_data("npz", {"path": str(tmp_path / "one.npz")})
    assert (problem.key, problem.received) == ("y_key", "1") and "single class" in problem.message
    from PIL import Image

    for name, count in (("ants", 2), ("bees", 0)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (4, 4)).save(tmp_path / "images" / name / f"{i}.png")
    [problem] = check_data("image_folder", {"directory": str(tmp_path / "images")})
    assert (problem.key, problem.received) == ("directory", ["bees"])
    (tmp_path / "images" / "bees").rmdir()
    [problem] = check_data("image_folder", {"directory": str(tmp_path / "images")})
    assert problem.key == "directory" and "single class" in problem.message


def test_class_weight_keys_are_class_indices(tables):
    # Wine's labels are 1, 2, 3: class indices 0, 1, 2. Key 3 is label 3, i.e. index 2.
    options = {"path": tables["wine"]["csv"], "target": "target"}
    [problem] = check_data("csv", options, class_weight={1: 1.0, 2: 2.0, 3: 0.5})
    assert (problem.section, problem.key, problem.received) == ("training", "class_weight", [3])
    assert problem.allowed == [0, 1, 2] and problem.suggestions == ["2"]
    assert "label 3 is class index 2" in problem.message and problem.path == "training.class_weight"
    assert check_data("csv", options, class_weight={0: 1.0, 2: 3.0}) == []
    assert check_data("csv", options, class_weight="balanced") == []
    [problem] = check_data("npz", {"path": tables["diabetes"]["npz"], "task": "regression"},
                           class_weight={0: 1.0})
    assert problem.key == "class_weight" and "classification only" in problem.message


def test_ambiguous_targets_ask_for_task_and_a_loss_decides(tables):
    options = {"path": tables["diabetes"]["csv"], "target": "target"}
    [problem] = check_data("csv", options)
    assert (problem.key, problem.received, problem.allowed) == (
        "task", "auto", ["classification", "regression"])
    assert "214 distinct whole numbers over 442 samples" in problem.message
    assert check_data("csv", options, loss="mean_squared_error") == []
    assert check_data("csv", options, task="regression") == []
    with pytest.raises(DataError, match="task: regression"):
        CsvFile(options).load(0)


def test_the_loss_must_fit_the_classes(tables):
    [problem] = check_data("npz", {"path": tables["wine"]["npz"]}, loss="binary_crossentropy")
    assert (problem.section, problem.key) == ("training", "loss")
    assert "needs exactly 2 classes; this data has 3" in problem.message
    [problem] = check_data("npz", {"path": tables["wine"]["npz"]}, output_activation="sigmoid")
    assert (problem.section, problem.key) == ("model", "output_activation")
    assert check_data("npz", {"path": tables["breast_cancer"]["npz"]},
                      loss={"type": "binary_crossentropy", "from_logits": True}) == []


def test_option_errors_become_problems():
    [problem] = check_data("csv", {"path": "x.csv", "target": "y", "taks": "auto"})
    assert problem.key == "taks" and problem.suggestions == ["task"]
    [problem] = check_data("csvv", {})
    assert problem.key == "source" and "Did you mean 'csv'" in problem.message
    assert isinstance(problem, DataProblem)


def test_precheck_imports_no_tensorflow_and_is_fast(tables):
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from kerasopt.data.precheck import check_data\n"
        f"assert check_data('csv', {{'path': {tables['breast_cancer']['csv']!r}, 'target': 'target'}}) == []\n"
        f"assert check_data('npz', {{'path': {tables['wine']['npz']!r}}}) == []\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(heavy, time.perf_counter() - t)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, seconds = out.stdout.rsplit(" ", 1)
    assert heavy == "[]"
    assert float(seconds) < 3.0  # about 0.4 s here, imports included; generous for a busy host


def test_a_large_csv_is_checked_in_well_under_a_second(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 50_000, 20  # about 9 MB
    x = rng.standard_normal((n, d))
    y = rng.integers(0, 4, n)
    with open(tmp_path / "big.csv", "w") as handle:
        handle.write(",".join([*(f"f{i}" for i in range(d)), "label"]) + "\n")
        np.savetxt(handle, np.column_stack([x, y]), delimiter=",", fmt="%.6g")
    started = time.perf_counter()
    assert check_data("csv", {"path": str(tmp_path / "big.csv"), "target": "label"}) == []
    assert time.perf_counter() - started < 2.0  # about 0.3 s here


def test_a_file_above_the_size_limit_is_checked_by_a_sample(tmp_path, monkeypatch):
    from kerasopt.data.sources import csv_file

    monkeypatch.setattr(csv_file, "PRECHECK_SAMPLE_ROWS", 10)
    monkeypatch.setattr(csv_file, "PRECHECK_FULL_BYTES", 100)
    # Sorted by label: the first 10 rows hold one class, so a sample cannot count classes.
    rows = [f"{i},{i % 7},{0 if i < 20 else 1}" for i in range(40)]
    (tmp_path / "sorted.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    options = {"path": str(tmp_path / "sorted.csv"), "target": "label"}
    assert check_data("csv", options, class_weight={5: 1.0}) == []
    assert _keys(check_data("csv", {**options, "target": "lable"})) == [("data", "target")]
    rows[3] = "3,inf,0"
    (tmp_path / "sorted.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    assert _keys(check_data("csv", options)) == [("data", "features")]
    monkeypatch.setattr(csv_file, "PRECHECK_FULL_BYTES", 10**6)
    assert _keys(check_data("csv", {**options, "path": str(tmp_path / "sorted.csv")},
                            class_weight={5: 1.0})) == [("data", "features"),
                                                        ("training", "class_weight")]
