"""Data sources and tf.data pipelines: offline (mnist1d, digits, synthetic, files) and online."""

from kerasopt.data.build import build_data as build_data
from kerasopt.data.bundle import DataBundle as DataBundle
from kerasopt.data.errors import DataError as DataError

__all__ = ["DataBundle", "DataError", "build_data"]
