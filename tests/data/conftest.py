"""Shared fixtures of the data tests: the MNIST-1D arrays are generated once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def mnist1d_data():
    from kerasopt.data.sources.mnist1d import Mnist1D

    return Mnist1D({}).load(seed=0)


@pytest.fixture(scope="session")
def tables(tmp_path_factory):
    """breast_cancer, wine and diabetes as CSV and npz files: `{name: {"csv": path, "npz": path}}`."""
    from tests.data.sklearn_tables import write_tables

    return write_tables(tmp_path_factory.mktemp("tables"))
