"""Shared fixtures of the model tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tables(tmp_path_factory):
    """breast_cancer, wine and diabetes as CSV and npz files: `{name: {"csv": path, "npz": path}}`."""
    from tests.data.sklearn_tables import write_tables

    return write_tables(tmp_path_factory.mktemp("tables"))
