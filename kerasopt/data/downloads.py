"""Network reachability and the one offline error of the downloading sources."""

from __future__ import annotations

import socket

from kerasopt.data.errors import DataError

OFFLINE_ALTERNATIVES = ("mnist1d", "digits", "synthetic", "npz", "csv", "image_folder")


def host_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Return whether a TCP connection to `host:port` opens within `timeout` seconds.

    Used before a download so that an offline machine fails in a few seconds with a
    clear message instead of hanging in a retry loop.

    Args:
        host: The host name the download comes from.
        port: The port. Defaults to `443`.
        timeout: Seconds to wait. Defaults to `3.0`.

    Returns:
        True if the connection opened.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def offline_error(source: str, dataset: str, url: str, reason: str) -> DataError:
    """Build the error raised when a source needs a download that cannot happen.

    Args:
        source: The data source (`"keras_dataset"`, `"tfds"`).
        dataset: The data set name.
        url: Where the files come from.
        reason: What went wrong (host unreachable, the download's own error).

    Returns:
        A DataError naming the data set, the download and the offline sources.
    """
    return DataError(
        f"Data source {source!r} with name={dataset!r} needs to download the data set from "
        f"the internet ({url}), and the download is not possible: {reason}. Connect to the "
        f"internet once (the files are then cached), or use an offline source: "
        f"{', '.join(OFFLINE_ALTERNATIVES)} (npz, csv and image_folder read your own files)."
    )
