"""scikit-learn's bundled 8x8 handwritten digits (offline)."""

from __future__ import annotations

import numpy as np

from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData


class Digits(DataSource):
    """The UCI optical-recognition digits shipped with scikit-learn (1,797 samples, 10 classes).

    Loaded with `sklearn.datasets.load_digits`, which reads a file bundled with
    scikit-learn, so it works offline. Pixel values are integers 0..16 (kept raw, as
    float32). The data set has no test split: `build_data` carves one off with
    `test_split` (0.2 when not given).

    Args:
        options: `image` (bool): give `(8, 8, 1)` images instead of 64 features.
            Defaults to `False`.
    """

    name = "digits"
    options = (Option("image", (bool,), default=False,
                      doc="8x8x1 images instead of 64 features"),)

    def known_classes(self) -> int:
        """Ten digit classes."""
        return 10

    def load(self, seed: int) -> SourceData:
        """Load the bundled digits; `seed` is unused (the data is fixed)."""
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = bunch.data.astype(np.float32)
        if self.config["image"]:
            x = x.reshape(-1, 8, 8, 1)
        return SourceData(x=x, y=bunch.target.astype(np.int32), task="classification",
                          class_names=[str(i) for i in range(10)])
