"""`runtime.loggers` checks (issue 23, item 3): MLflow missing, a store that is not MLflow's, and a
tracking server that does not answer when the run starts; each with one clear message."""

from __future__ import annotations

import socket
import sqlite3
import sys

import pytest

from kerasopt.cli import main
from tests.tiny_recipe import write_tiny_recipe

pytest.importorskip("mlflow")


def _recipe(folder, **logger):
    return write_tiny_recipe(folder, runtime={"loggers": [{"type": "mlflow", **logger}]})


def test_mlflow_not_installed_is_exit_2_at_validate_with_the_install_hint(tmp_path, monkeypatch, capsys):
    path = _recipe(tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["validate", path]) == 0, capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "mlflow", None)  # find_spec then reports it missing
    capsys.readouterr()
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "runtime.loggers[0].type" in err and "pip install 'kerasopt[mlflow]'" in err
    assert "Traceback" not in err and sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


def test_a_database_that_is_not_mlflows_is_refused_and_left_alone(tmp_path, capsys):
    other = tmp_path / "shop.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    before = other.read_bytes()
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    for target, reason in ((other, "not an MLflow store"), (text, "not an SQLite database")):
        path = _recipe(tmp_path, tracking_uri=f"sqlite:///{target}")
        assert main(["validate", path]) == 2
        err = capsys.readouterr().err
        assert "runtime.loggers[0].tracking_uri" in err and reason in err and str(target) in err
    assert other.read_bytes() == before and text.read_text() == "not a database"


def test_mlflows_folder_store_needs_its_opt_in(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    path = _recipe(tmp_path, tracking_uri=str(tmp_path / "mlruns"))
    assert main(["validate", path]) == 2
    assert "MLFLOW_ALLOW_FILE_STORE=true" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert main(["validate", path]) == 0


def test_a_tracking_server_that_does_not_answer_fails_the_run_before_training(tmp_path, monkeypatch, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = _recipe(tmp_path, tracking_uri=f"http://127.0.0.1:{port}")
    out = tmp_path / "run"
    assert main(["run", path, "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"runtime.loggers[0].tracking_uri: the MLflow tracking server at http://127.0.0.1:{port} " \
           "does not answer" in err
    assert "nothing was trained" in err and "Traceback" not in err
    assert not out.exists()
