"""keras_dataset and tfds fail fast with one clear message when they cannot download."""

from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest

from kerasopt.data import downloads
from kerasopt.data.build import build_data
from kerasopt.data.errors import DataError
from kerasopt.data.sources import keras_dataset
from kerasopt.data.sources.keras_dataset import KerasDataset
from kerasopt.data.sources.tfds_dataset import TfdsDataset


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(keras_dataset, "keras_cache_dirs", lambda: [tmp_path / "datasets"])
    return tmp_path / "datasets"


def test_keras_dataset_offline_error_names_dataset_and_alternatives(monkeypatch, empty_cache):
    calls = []
    monkeypatch.setattr(downloads, "host_reachable", lambda host, *a, **k: calls.append(host))
    with pytest.raises(DataError) as info:
        build_data("keras_dataset", {"name": "cifar10"})
    message = str(info.value)
    assert calls == ["www.cs.toronto.edu"]
    assert "name='cifar10'" in message and "download the data set from the internet" in message
    assert "www.cs.toronto.edu is unreachable" in message
    assert "mnist1d, digits, synthetic, npz, csv, image_folder" in message


def test_keras_dataset_download_failure_becomes_the_same_error(monkeypatch, empty_cache):
    import keras

    def fail(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None")

    monkeypatch.setattr(downloads, "host_reachable", lambda *a, **k: True)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)
    with pytest.raises(DataError, match=r"name='mnist' needs to download.*URL fetch failure"):
        KerasDataset({"name": "mnist"}).load(0)


def test_keras_dataset_uses_the_cache_without_a_network_check(monkeypatch, empty_cache):
    import keras

    (empty_cache).mkdir()
    (empty_cache / "mnist.npz").write_bytes(b"")
    monkeypatch.setattr(downloads, "host_reachable", lambda *a, **k: pytest.fail("checked"))
    rng = np.random.default_rng(0)
    fake = ((rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), np.arange(20) % 10),
            (rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), np.arange(10) % 10))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: fake)
    data = KerasDataset({"name": "mnist"}).load(0)
    assert data.x.shape == (20, 28, 28, 1) and data.x.dtype == np.uint8
    assert data.y_test.dtype == np.int32 and data.num_classes == 10
    with pytest.raises(DataError, match=r"`name`.*one of 'mnist', 'fashion_mnist'.*Received: name='svhn'"):
        KerasDataset({"name": "svhn"})


def test_reachability_check_is_quick_on_a_closed_port():
    start = time.perf_counter()
    assert downloads.host_reachable("127.0.0.1", port=9, timeout=1.0) is False
    assert time.perf_counter() - start < 2.0


def test_tfds_missing_package_names_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(DataError, match="pip install tensorflow-datasets"):
        TfdsDataset({"name": "mnist"}).load(0)


def test_tfds_offline_error(monkeypatch):
    builder = types.SimpleNamespace(is_prepared=lambda: False,
                                    download_and_prepare=lambda: pytest.fail("downloaded"))
    fake = types.SimpleNamespace(builder=lambda name, data_dir=None: builder)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setattr(downloads, "host_reachable", lambda *a, **k: False)
    with pytest.raises(DataError, match=r"'tfds' with name='mnist' needs to download.*unreachable"):
        TfdsDataset({"name": "mnist"}).load(0)
    with pytest.raises(DataError, match=r"`splits` must list one or two.*Received: splits=\[\]"):
        TfdsDataset({"name": "mnist", "splits": []})
