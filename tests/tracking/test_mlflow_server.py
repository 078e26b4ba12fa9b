"""Against a real `mlflow server` (issue 23, item 3): a run's parameters, loss history and recipe
artifact reach the server; when the server dies mid-run, training goes on with one warning and
metrics.json says how many numbers MLflow did not get."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import keras
import pytest

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.runner import run
from tests.tiny_recipe import write_tiny_recipe
from tests.tracking.conftest import mlflow_client

pytest.importorskip("mlflow")
READY_SECONDS = 240  # the server imports MLflow twice (CLI, then uvicorn's worker); slow on a busy host


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_ready(server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server not ready after {READY_SECONDS} s")


@pytest.fixture
def server(tmp_path, empty_store):
    """`mlflow server` on 127.0.0.1 with a tmp backend store and artifact folder; stopped at the end."""
    shutil.copy(empty_store, tmp_path / "server.db")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, url)
        yield process, url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its uvicorn worker
        process.communicate(timeout=60)


class StopServerAfterFirstEpoch(keras.callbacks.Callback):
    """Read the run back from the server after epoch 1, then kill the server (before epoch 2 is logged)."""

    def __init__(self, server, url):
        super().__init__()
        self.server, self.url, self.seen = server, url, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch != 1:
            return
        client = mlflow_client(self.url)
        (found,) = client.search_runs([client.get_experiment_by_name("team").experiment_id])
        self.seen = {"params": found.data.params, "status": found.info.status,
                     "loss": [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, "loss")],
                     "artifacts": [a.path for a in client.list_artifacts(found.info.run_id)]}
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=60)


@pytest.mark.slow  # one `mlflow server` start (two MLflow imports) and one run
def test_a_run_reports_to_a_server_and_outlives_it(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast once the server is gone
    process, url = server
    path = write_tiny_recipe(tmp_path, training={"epochs": 4},
                             runtime={"loggers": [{"type": "mlflow", "tracking_uri": url, "experiment": "team"}]})
    stopper = StopServerAfterFirstEpoch(process, url)
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "run"), callbacks=[stopper])
    history = metrics["stages"][0]["history"]
    assert stopper.seen["status"] == "RUNNING" and stopper.seen["params"]["training.epochs"] == "4"
    assert stopper.seen["loss"] == [(0, pytest.approx(history["loss"][0], rel=1e-6))]
    assert stopper.seen["artifacts"] == ["recipe.yaml"]
    # Epochs 2-4 (loss, accuracy) and the final and stage evaluations were not sent; training went on.
    assert len(history["loss"]) == 4 and metrics["tracking"][0]["unlogged"] >= 6
    err = capsys.readouterr().err
    assert err.count("training goes on, and what was not logged is sent again") == 1
