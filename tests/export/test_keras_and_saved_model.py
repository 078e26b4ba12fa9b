"""Tests of export_keras, export_saved_model and the atomic write helper."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.atomic import atomic_target, path_bytes
from kerasopt.export.errors import ExportError
from kerasopt.export.keras_format import export_keras
from kerasopt.export.saved_model import export_saved_model
from kerasopt.models.build import build_model


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=16)
    model = build_model({"architecture": "cnn", "filters": [4], "dense_units": [6], "normalization": "batch"},
                        input_shape=(8, 1), num_classes=3)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return model, x


def test_export_keras_round_trip(model_and_data, tmp_path):
    model, x = model_and_data
    path = tmp_path / "run" / "model.keras"
    info = export_keras(model, path)
    assert info == {"path": str(path), "bytes": path.stat().st_size}
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)


def test_export_keras_needs_the_suffix(model_and_data, tmp_path):
    with pytest.raises(ExportError, match="must end in .keras. Received: path=.*model.h5"):
        export_keras(model_and_data[0], tmp_path / "model.h5")
    assert list(tmp_path.iterdir()) == []


def test_export_saved_model_round_trip_and_replace(model_and_data, tmp_path):
    model, x = model_and_data
    path = tmp_path / "saved_model"
    info = export_saved_model(model, path)
    assert info["path"] == str(path) and info["bytes"] == path_bytes(path) > 0
    loaded = tf.saved_model.load(str(path))
    np.testing.assert_allclose(loaded.serve(x).numpy(), model.predict(x, verbose=0), atol=1e-5)
    (path / "stale.txt").write_text("from an older export")
    export_saved_model(model, path)
    assert not (path / "stale.txt").exists() and (path / "saved_model.pb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model"]


def test_atomic_target_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.bin"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_target(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert final.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with atomic_target(final) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".bin" and tmp.name.startswith(".out.bin.")
        tmp.write_bytes(b"new")
    assert final.read_bytes() == b"new" and path_bytes(final) == 3


def test_atomic_target_requires_a_written_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="wrote nothing"):
        with atomic_target(tmp_path / "never.bin"):
            pass
    assert list(tmp_path.iterdir()) == []
