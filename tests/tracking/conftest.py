"""Fixtures of the MLflow tests: no telemetry, and a fresh copy of an empty MLflow database."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def mlflow_client(uri):
    """MLflow's own client on `uri`."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    """An empty MLflow database, made once: MLflow's migrations take seconds on every new file."""
    pytest.importorskip("mlflow")
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    mlflow_client(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store_uri(tmp_path, empty_store):
    """A fresh copy of the empty store, in `tmp_path / "store"`."""
    (tmp_path / "store").mkdir()
    shutil.copy(empty_store, tmp_path / "store" / "mlflow.db")
    return f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
