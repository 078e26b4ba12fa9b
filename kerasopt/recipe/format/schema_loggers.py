"""`runtime.loggers`: experiment trackers a run reports to besides its run directory (MLflow).

The schema checks, without importing MLflow, that the package is installed and that the
store the run would write to is an MLflow store (or does not exist yet): kerasopt never
writes MLflow's tables into someone else's file.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator

from kerasopt.recipe.format.fields import Flag, StrictModel

INSTALL_HINT = "pip install 'kerasopt[mlflow]'"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""MLflow's own default store (what `mlflow ui` opens in the same working directory)."""

SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def default_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set, else :data:`DEFAULT_TRACKING_URI`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def store_problem(uri: str) -> str | None:
    """Why kerasopt must not log to `uri`, or None when it may.

    A `sqlite:` file must be missing or an MLflow database (tables `experiments` and
    `alembic_version`); a `file:` store (MLflow's folder store) needs
    `MLFLOW_ALLOW_FILE_STORE=true` (MLflow 3 refuses it otherwise) and an existing folder
    must hold MLflow's `meta.yaml` files.

    Example:
        >>> store_problem("ftp://host/x")
        "the scheme 'ftp' is not an MLflow store; allowed: sqlite, file, http, https, postgresql, mysql, mssql, databricks"
        >>> store_problem("http://127.0.0.1:5000") is None
        True
    """
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+")[0] if parsed.scheme else "file"
    if len(scheme) == 1:  # a Windows drive letter
        scheme = "file"
    if scheme not in SCHEMES:
        return f"the scheme {scheme!r} is not an MLflow store; allowed: {', '.join(SCHEMES)}"
    if scheme == "sqlite":
        return _sqlite_problem(Path(uri.split(":///", 1)[1]) if ":///" in uri else None, uri)
    if scheme == "file":
        return _folder_problem(Path(parsed.path if parsed.scheme else uri))
    return None


def _sqlite_problem(path: Path | None, uri: str) -> str | None:
    if path is None or not str(path):
        return f"a sqlite store is written sqlite:///relative/path.db or sqlite:////absolute/path.db; received {uri!r}"
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a file"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as err:
        return f"{path} is not an SQLite database ({err}); kerasopt does not write into it"
    if not {"experiments", "alembic_version"} <= tables:
        return (f"{path} is an SQLite database but not an MLflow store (no experiments table); "
                "kerasopt does not write into it. Choose another file")
    return None


def _folder_problem(path: Path) -> str | None:
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("true", "1"):
        return ("MLflow 3 refuses its folder store (file:, ./mlruns) unless MLFLOW_ALLOW_FILE_STORE=true "
                "is set; use a local database instead: sqlite:///mlflow.db")
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not an MLflow folder store"
    if path.is_dir() and any(path.iterdir()) and not any(path.glob("*/meta.yaml")):
        return f"{path} holds files but no MLflow experiments (*/meta.yaml); kerasopt does not write into it"
    return None


class MlflowLogger(StrictModel):
    """Report the run to MLflow: the resolved recipe, per-epoch metrics, the final evaluation,
    metrics.json and the exported files (see docs/tracking.md)."""

    type: Literal["mlflow"]
    tracking_uri: str | None = Field(
        None, description="an MLflow tracking URI (http://host:5000, sqlite:///path.db, ...); default: "
        "the MLFLOW_TRACKING_URI environment variable, else sqlite:///mlflow.db in the working "
        "directory (MLflow's own default, which `mlflow ui` opens there)")
    experiment: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="the MLflow experiment (created when missing); default: the recipe's name")
    run_name: Annotated[str, Field(min_length=1, max_length=250)] | None = Field(
        None, description="the MLflow run's name; default: the run directory's name")
    tags: dict[str, str] = Field(default_factory=dict, description="further tags set on the MLflow run")
    artifacts: Flag = Field(True, description="upload recipe.yaml, metrics.json and the exported files "
                            "as the run's artifacts (false: parameters and metrics only)")

    @field_validator("type")
    @classmethod
    def _installed(cls, value: str) -> str:
        if importlib.util.find_spec("mlflow") is None:
            raise ValueError(f"logging to MLflow needs the mlflow package, not installed: {INSTALL_HINT}")
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _own_store(cls, value: str | None) -> str | None:
        problem = store_problem(value if value is not None else default_tracking_uri())
        if problem is not None:
            default = "" if value is not None else f" (the default tracking URI, {default_tracking_uri()})"
            raise ValueError(f"{problem}{default}")
        return value
