"""Streaming from `.npz` shards and from image folders read per batch (issue 23 item 4): the
seeded order re-derived in NumPy, bad shards refused at validate (exit 2), one tiny run each."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from kerasopt.cli import main
from kerasopt.data.build import build_data
from kerasopt.data.sources.image_folder import ImageFolder
from tests.data.streamed_files import numpy_order, small_mnist1d, write_npz_shards, write_png_folder


@pytest.fixture(scope="module")
def npz_shards(tmp_path_factory):
    """MNIST-1D: 240 training samples in 4 shards of 60, 60 test samples in one."""
    folder = tmp_path_factory.mktemp("npz")
    x, y, x_test, y_test = small_mnist1d(300)
    write_npz_shards(folder, "train", x, y.astype(np.int32), 4)
    write_npz_shards(folder, "test", x_test, y_test, 1)
    return folder, x, y


@pytest.fixture(scope="module")
def png_folders(tmp_path_factory):
    """30 training and 9 test 6x5 grayscale PNGs in 3 class folders."""
    folder = tmp_path_factory.mktemp("png")
    rng = np.random.default_rng(0)
    for name, count in (("train", 30), ("test", 9)):
        write_png_folder(folder / name, rng.integers(0, 256, (count, 6, 5), dtype=np.uint8), np.arange(count) % 3)
    return folder


def _npz_options(folder, **more):
    return {"files": str(folder / "train-*.npz"), "test_files": str(folder / "test-*.npz"), "num_classes": 10, **more}


def test_npz_shards_stream_in_the_documented_order(npz_shards):
    folder, x, y = npz_shards
    bundle = build_data("npz_shards", _npz_options(folder, shuffle_shards=3), batch_size=64,
                        validation_split=0, seed=5)
    for epoch in range(2):
        batches = list(bundle.train.as_numpy_iterator())
        order = numpy_order(np.full(4, 60), 5, epoch, 3)
        np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), x[order])
        np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), y[order])
    assert [len(b) for b, _ in batches] == [64, 64, 64, 48]


def test_image_folders_stream_every_image_in_a_seeded_permutation_with_image_folders_pixels(png_folders):
    options = {"directory": str(png_folders / "train"), "test_directory": str(png_folders / "test"),
               "color_mode": "grayscale"}
    in_memory = ImageFolder(options).load(0)  # Keras's directory reader, in file order
    bundle = build_data("image_stream", options, batch_size=8, validation_split=0, seed=2)
    assert bundle.input_shape == (6, 5, 1) and bundle.class_names == ["c0", "c1", "c2"]
    for epoch in range(2):
        batches = list(bundle.train.as_numpy_iterator())
        order = numpy_order(np.ones(30, np.int64), 2, epoch, 1)
        np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), in_memory.x[order])
        np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), in_memory.y[order])
    np.testing.assert_array_equal(bundle.x_test, in_memory.x_test)


def test_a_shard_without_the_key_or_of_another_shape_is_refused_by_validate(npz_shards, tmp_path, capsys):
    folder, x, y = npz_shards
    odd = tmp_path / "odd"
    write_npz_shards(odd, "train", x[:50], y[:50], 2)
    np.savez(odd / "train-002.npz", x=x[:10, :20], y=y[:10])
    path = _write(tmp_path, {"source": "npz_shards", **_npz_options(folder, files=str(odd / "train-*.npz"))})
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "data.files" in err and "train-002.npz" in err and "(20, 1)" in err
    path = _write(tmp_path, {"source": "npz_shards", **_npz_options(folder, y_key="label")})
    assert main(["validate", path]) == 2
    assert "data.y_key" in capsys.readouterr().err


def _write(tmp_path, data, **sections):
    recipe = {"name": "stream", "seed": 0, "data": {"batch_size": 32, **data},
              "model": {"architecture": "mlp", "units": [8]}, "training": {"epochs": 1},
              "runtime": {"verbose": 0, "tensorboard": {"enabled": False}}, "export": {"keras": False}, **sections}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize("source", ["npz_shards", "image_stream"])
def test_a_recipe_runs_from_each_streaming_source(npz_shards, png_folders, tmp_path, source):
    if source == "npz_shards":
        data = {"source": source, "normalization": "minmax", **_npz_options(npz_shards[0])}
        steps, tests = 8, 60
    else:
        data = {"source": source, "directory": str(png_folders / "train"), "color_mode": "grayscale",
                "test_directory": str(png_folders / "test"), "validation_directory": str(png_folders / "test")}
        steps, tests = 1, 9
    # int8 export calibrates on the stream's first training samples (it needed the arrays before).
    export = {"keras": False, "tflite": {"quantization": "int8", "max_accuracy_drop": 1.0}}
    assert main(["run", _write(tmp_path, data, **({"export": export} if source == "npz_shards" else {})),
                 "--output-dir", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    if source == "npz_shards":
        assert metrics["exports"]["tflite"]["int8_ranges"] == "calibrated"
        assert metrics["exports"]["tflite"]["samples"] == tests
    assert metrics["timing"]["train_steps"] == steps
    assert metrics["evaluation"]["test"]["loss"] > 0
    if source == "image_stream":
        assert "validation" in metrics["evaluation"]
    assert tests > 0
