"""Streaming from TFRecord shards (issue 23 item 4): the seeded order re-derived in NumPy, the
normalizer from one pass, bad specs and files (exit 2), a recipe run and an exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from kerasopt.cli import main
from kerasopt.data.build import build_data
from kerasopt.data.normalization import fit_normalizer
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.runner import run
from tests.data.streamed_files import FEATURES, numpy_order, small_mnist1d, write_tfrecords


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """MNIST-1D, 240 training samples in 5 shards of 48 and 60 test samples in 2 shards."""
    folder = tmp_path_factory.mktemp("tfrecords")
    x, y, x_test, y_test = small_mnist1d(300)
    write_tfrecords(folder, "train", x, y, 5)
    write_tfrecords(folder, "test", x_test, y_test, 2)
    return folder, x, y, x_test, y_test


def _options(folder, **more):
    return {"files": str(folder / "train-*.tfrecord"), "test_files": str(folder / "test-*.tfrecord"),
            "features": FEATURES, "num_classes": 10, **more}


@pytest.mark.parametrize(("group", "cache"), [(2, "none"), (1, "memory"), (5, "folder")])
def test_each_pass_is_the_documented_order_of_files_and_samples(shards, group, cache, tmp_path):
    folder, x, y, x_test, y_test = shards
    cache = str(tmp_path / "cache") if cache == "folder" else cache
    bundle = build_data("tfrecord", _options(folder, shuffle_shards=group, cache=cache), batch_size=50,
                        validation_split=0, seed=7)
    assert bundle.steps_per_epoch == 5 and int(bundle.train.cardinality()) == 5
    counts = np.full(5, 48)
    passes = [[(a, b) for a, b in bundle.train.as_numpy_iterator()] for _ in range(2)]
    for epoch, batches in enumerate(passes):
        order = numpy_order(counts, 7, epoch, group)
        assert sorted(order.tolist()) == list(range(240))
        assert [len(b) for b, _ in batches] == [50, 50, 50, 50, 40]
        np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), x[order])
        np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), y[order])
    assert not np.array_equal(passes[0][0][0], passes[1][0][0])
    bundle.epoch.assign(1)  # pass 1 again, as a resumed run sets it
    np.testing.assert_array_equal(next(bundle.train.as_numpy_iterator())[0], passes[1][0][0])
    np.testing.assert_array_equal(bundle.x_test, x_test)  # the test split in file order
    np.testing.assert_array_equal(np.concatenate([b for _, b in bundle.test.as_numpy_iterator()]), y_test)


def test_without_shuffle_the_stream_is_the_files_in_order_and_the_normalizer_matches_in_memory(shards):
    folder, x, y, *_ = shards
    bundle = build_data("tfrecord", _options(folder), batch_size=64, validation_split=0, shuffle=False,
                        normalization="standardize")
    np.testing.assert_array_equal(np.concatenate([b for b, _ in bundle.train.as_numpy_iterator()]), x)
    want = fit_normalizer(x, "standardize")
    np.testing.assert_allclose(bundle.normalizer.mean.numpy(), want.mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(bundle.normalizer.variance.numpy(), want.variance.numpy(), rtol=1e-4)


def _recipe(tmp_path, folder, **data):
    recipe = {"name": "stream", "seed": 0,
              "data": {"source": "tfrecord", "batch_size": 32, "normalization": "standardize",
                       "shuffle_shards": 2, **_options(folder), "validation_files": str(folder / "test-000.tfrecord"),
                       **data},
              "model": {"architecture": "mlp", "units": [8]},
              "training": {"epochs": 3, "optimizer": {"type": "adam", "learning_rate": 0.01}},
              "runtime": {"verbose": 0, "tensorboard": {"enabled": False}}, "export": {"keras": False}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize(("key", "value", "named"), [
    ("features", {"x": {"dtype": "float64", "shape": [40, 1]}, "y": FEATURES["y"]}, "data.features.x.dtype"),
    ("features", {"x": FEATURES["x"], "label": FEATURES["y"]}, "data.features.y"),
    ("features", {"x": {"dtype": "float32", "shape": [40, 0]}, "y": FEATURES["y"]}, "data.features.x.shape"),
    ("files", "nowhere/train-*.tfrecord", "data.files"),
    ("cache", "memroy", "data.cache"),
])
def test_a_bad_spec_or_pattern_is_refused_by_validate_naming_the_key(shards, tmp_path, capsys, key, value, named):
    path = _recipe(tmp_path, shards[0], **{key: value})
    assert main(["validate", path]) == 2
    assert named in capsys.readouterr().err


def test_a_file_written_with_another_spec_stops_the_run_with_exit_2_naming_it(shards, tmp_path, capsys):
    folder = shards[0]
    odd = tmp_path / "odd"
    x, y = shards[1][:10, :20], shards[2][:10]  # 20 values per sample where the spec says 40
    write_tfrecords(odd, "train", x, y, 1)
    path = _recipe(tmp_path, folder, files=str(odd / "train-*.tfrecord"))
    assert main(["run", path, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "train-000.tfrecord" in err and "x: float32[20]" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("section", "key", "value"), [
    ("data", "validation_split", 0.2), ("data", "batch_size", "auto"), ("training", "class_weight", "balanced")])
def test_keys_a_stream_cannot_serve_stop_the_run_with_exit_2_naming_them(shards, tmp_path, capsys, section, key, value):
    path = _recipe(tmp_path, shards[0])
    recipe = yaml.safe_load(Path(path).read_text())
    recipe[section][key] = value
    Path(path).write_text(yaml.safe_dump(recipe))
    assert main(["run", path, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{section}.{key}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_recipe_runs_from_shards_and_a_crashed_stage_resumes_to_the_same_weights(shards, tmp_path, monkeypatch):
    path = _recipe(tmp_path, shards[0], augmentation=[{"type": "noise", "stddev": 0.1}])
    straight = run(load_recipe(path), output_dir=str(tmp_path / "straight"))
    assert straight["timing"]["train_steps"] == 3 * 8
    losses = straight["stages"][0]["history"]["loss"]
    assert losses[-1] < losses[0] and np.isfinite(straight["evaluation"]["test"]["loss"])
    original = keras.callbacks.History.on_epoch_end

    def crash(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:  # after the backup of epochs 0-1
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(path), output_dir=str(tmp_path / "out"))
    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", original)
    resumed = run(load_recipe(path), output_dir=str(tmp_path / "out"), resume=True)
    assert resumed["timing"]["train_steps"] == straight["timing"]["train_steps"]
    assert resumed["stages"][0]["history"]["loss"] == pytest.approx(straight["stages"][0]["history"]["loss"], abs=1e-7)
    assert resumed["evaluation"]["test"]["loss"] == pytest.approx(straight["evaluation"]["test"]["loss"], abs=1e-7)
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["evaluation"]["test"]["loss"] == resumed["evaluation"]["test"]["loss"]
