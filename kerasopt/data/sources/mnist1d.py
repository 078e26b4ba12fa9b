"""MNIST-1D (Greydanus & Hasani, 2024), generated locally: no download."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData

# The generator's own arguments that a recipe may change; `url` is left out on purpose
# (it only serves `get_dataset`, which downloads).
_GENERATOR_OPTIONS = (
    Option("num_samples", (int,), doc="samples generated before the train/test split"),
    Option("train_split", (float,), doc="fraction of the generated samples used for training"),
    Option("template_len", (int,)),
    Option("padding", (list,)),
    Option("scale_coeff", (float,)),
    Option("max_translation", (int,)),
    Option("corr_noise_scale", (float,)),
    Option("iid_noise_scale", (float,)),
    Option("shear_scale", (float,)),
    Option("shuffle_seq", (bool,)),
    Option("final_seq_length", (int,)),
    Option("seed", (int,), doc="generator seed; the paper's frozen data set uses 42"),
)


class Mnist1D(DataSource):
    """The MNIST-1D data set, generated with the `mnist1d` package (never downloaded).

    `make_dataset(get_dataset_args())` reproduces the paper's frozen data set bit for
    bit: 4,000 training and 1,000 test sequences of length 40, labels 0..9. Every
    generator argument can be overridden as an option (`num_samples`, `seed`, ...); the
    generator's `seed` (42 by default) is separate from `build_data`'s `seed`, which
    only drives splits and shuffling, so the data set stays the paper's by default.
    Inputs get a channel axis, `(N, 40, 1)`, so Conv1D models accept them.

    Args:
        options: Any of the generator's arguments listed in `options`. Defaults to none.
    """

    name = "mnist1d"
    options = _GENERATOR_OPTIONS

    def has_test_set(self) -> bool:
        """MNIST-1D has its own test split."""
        return True

    def known_classes(self) -> int:
        """Ten digit classes."""
        return 10

    def load(self, seed: int) -> SourceData:
        """Generate the data set (about a second); `seed` is unused here."""
        from mnist1d.data import get_dataset_args, make_dataset

        args: Any = get_dataset_args()
        for key, value in self.config.items():
            if value is not None:
                setattr(args, key, value)
        # make_dataset seeds Python's and NumPy's global generators with the data set's own
        # seed; Keras draws unseeded initializers (a `layers:` model's) from Python's, so
        # without this every recipe seed would start from the same weights.
        python_state, numpy_state = random.getstate(), np.random.get_state()
        try:
            data = make_dataset(args)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
        return SourceData(
            x=data["x"].astype(np.float32)[..., None],
            y=data["y"].astype(np.int32),
            x_test=data["x_test"].astype(np.float32)[..., None],
            y_test=data["y_test"].astype(np.int32),
            task="classification",
            class_names=[str(i) for i in range(10)],
        )
