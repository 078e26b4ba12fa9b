"""The small data sets of `keras.datasets` (downloaded once, then cached)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kerasopt.data import downloads
from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData

_GOOGLE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_TORONTO = "https://www.cs.toronto.edu/~kriz/"

# name -> (files or folders Keras caches under <keras home>/datasets, download URL, task,
# class names or None)
_DATASETS: dict[str, tuple[tuple[str, ...], str, str, list[str] | None]] = {
    "mnist": (("mnist.npz",), _GOOGLE + "mnist.npz", "classification",
              [str(i) for i in range(10)]),
    "fashion_mnist": (tuple(f"fashion-mnist/{f}" for f in (
        "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")), _GOOGLE, "classification",
        ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
         "bag", "ankle boot"]),
    "cifar10": (("cifar-10-batches-py-target",), _TORONTO + "cifar-10-python.tar.gz",
                "classification", ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                   "frog", "horse", "ship", "truck"]),
    "cifar100": (("cifar-100-python-target",), _TORONTO + "cifar-100-python.tar.gz",
                 "classification", None),
    "boston_housing": (("boston_housing.npz",), _GOOGLE + "boston_housing.npz", "regression",
                       None),
}


def keras_cache_dirs() -> list[Path]:
    """The folders where Keras caches data sets: `$KERAS_HOME` or `~/.keras`, then `/tmp/.keras`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [Path(home) / "datasets", Path("/tmp/.keras/datasets")]


class KerasDataset(DataSource):
    """One of the `keras.datasets` data sets: mnist, fashion_mnist, cifar10, cifar100, boston_housing.

    Keras downloads these on first use and caches them under `~/.keras/datasets` (or
    `$KERAS_HOME/datasets`). When the files are not cached, the download host is first
    checked with a 3-second connection attempt, so an offline machine fails at once
    with a DataError that names the data set and the offline sources to use instead;
    any error of the download itself becomes the same DataError. Images keep their
    uint8 pixels (0..255) and get a channel axis (`(28, 28, 1)` for the MNISTs);
    labels are int32. Each data set brings its own test split. imdb and reuters
    (variable-length token sequences) are not offered.

    Args:
        options: `name` (required; one of the names above), `label_mode` ("fine" or
            "coarse", cifar100 only; defaults to "fine").

    Raises:
        DataError: If the data set is not cached and cannot be downloaded.
    """

    name = "keras_dataset"
    options = (
        Option("name", (str,), required=True, choices=tuple(_DATASETS)),
        Option("label_mode", (str,), default="fine", choices=("fine", "coarse"),
               doc="cifar100 only"),
    )

    def has_test_set(self) -> bool:
        """Every Keras data set has its own test split."""
        return True

    def is_cached(self) -> bool:
        """Whether Keras already holds every file of the data set locally."""
        files = _DATASETS[self.config["name"]][0]
        return any(all((base / f).exists() for f in files) for base in keras_cache_dirs())

    def load(self, seed: int) -> SourceData:
        """Load (downloading if needed and possible); `seed` is unused."""
        import keras

        dataset = self.config["name"]
        _, url, task, names = _DATASETS[dataset]
        if not self.is_cached():
            host = url.split("/")[2]
            if not downloads.host_reachable(host):
                raise downloads.offline_error(self.name, dataset, url,
                                              f"{host} is unreachable")
        module = getattr(keras.datasets, dataset)
        kwargs = {"label_mode": self.config["label_mode"]} if dataset == "cifar100" else {}
        try:
            (x, y), (x_test, y_test) = module.load_data(**kwargs)
        except Exception as err:  # Keras's get_file raises a bare Exception on network errors.
            raise downloads.offline_error(self.name, dataset, url,
                                          f"{type(err).__name__}: {err}") from err
        if task == "regression":
            return SourceData(x=x.astype(np.float32), y=y.astype(np.float32), task=task,
                              x_test=x_test.astype(np.float32),
                              y_test=y_test.astype(np.float32), class_names=None)
        if x.ndim == 3:
            x, x_test = x[..., None], x_test[..., None]
        y, y_test = y.reshape(-1).astype(np.int32), y_test.reshape(-1).astype(np.int32)
        if names is None:
            names = [str(i) for i in range(int(max(y.max(), y_test.max())) + 1)]
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task=task, class_names=names)
