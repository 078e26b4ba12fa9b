"""A deterministic, learnable synthetic data set labelled by a random linear teacher."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem
from kerasopt.data.options import Option
from kerasopt.data.source import TASKS, DataSource, SourceData


class Synthetic(DataSource):
    """Gaussian inputs labelled by a random linear teacher, generated from the seed.

    Inputs are `x ~ N(0, 1)` of shape `(samples, *input_shape)`. A teacher matrix
    `W ~ N(0, 1)` of shape `(d, num_classes)` (or `(d,)` for regression), with `d`
    the number of input values, scores the flattened inputs as `s = x W / sqrt(d)`, so
    scores have unit variance whatever `d` is. Classification labels are
    `argmax(s + noise * e)` and regression targets are `s + noise * e`, with
    `e ~ N(0, 1)`: with `noise=0` a linear model reaches 100% accuracy (or zero error),
    so the task is always learnable, and `noise` sets the Bayes error. Everything is
    drawn from `numpy.random.default_rng(seed)`, so the same seed gives the same data.

    Args:
        options: `task` ("classification" or "regression"; defaults to
            "classification"), `samples` (int >= 2; defaults to 1000), `input_shape`
            (list of positive ints; defaults to [20]), `num_classes` (int >= 2;
            defaults to 3), `noise` (float >= 0; defaults to 0.1).

    Raises:
        DataError: For a non-positive size or a negative noise level.
    """

    name = "synthetic"
    options = (
        Option("task", (str,), default="classification", choices=TASKS),
        Option("samples", (int,), default=1000, doc="number of samples (test split included)"),
        Option("input_shape", (list,), default=[20], doc="shape of one sample"),
        Option("num_classes", (int,), default=3, doc="classes (classification only)"),
        Option("noise", (float,), default=0.1, doc="stddev of the noise added to the scores"),
    )

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        cfg = self.config
        shape = cfg["input_shape"]
        checks = (
            ("samples", cfg["samples"] >= 2, "an integer >= 2"),
            ("input_shape", bool(shape) and all(isinstance(d, int) and not isinstance(d, bool)
                                                and d >= 1 for d in shape),
             "a non-empty list of integers >= 1"),
            ("num_classes", cfg["num_classes"] >= 2, "an integer >= 2"),
            ("noise", cfg["noise"] >= 0, ">= 0"),
        )
        for name, ok, allowed in checks:
            if not ok:
                raise DataProblem(name, f"Data option `{name}` must be {allowed}. Received: "
                                  f"{name}={cfg[name]!r}.", cfg[name], allowed).error()

    def known_classes(self) -> int:
        """`num_classes` for classification; 0 (one target value) for regression."""
        return self.config["num_classes"] if self.config["task"] == "classification" else 0

    def load(self, seed: int) -> SourceData:
        """Generate the data set from `seed`."""
        cfg = self.config
        rng = np.random.default_rng(seed)
        shape = tuple(cfg["input_shape"])
        x = rng.standard_normal((cfg["samples"], *shape)).astype(np.float32)
        flat = x.reshape(len(x), -1).astype(np.float64)
        d = flat.shape[1]
        if cfg["task"] == "classification":
            teacher = rng.standard_normal((d, cfg["num_classes"]))
            scores = flat @ teacher / np.sqrt(d)
            scores = scores + cfg["noise"] * rng.standard_normal(scores.shape)
            y = np.argmax(scores, axis=1).astype(np.int32)
            names: list[str] | None = [str(i) for i in range(cfg["num_classes"])]
        else:
            teacher = rng.standard_normal(d)
            scores = flat @ teacher / np.sqrt(d)
            y = (scores + cfg["noise"] * rng.standard_normal(scores.shape)).astype(np.float32)
            names = None
        return SourceData(x=x, y=y, task=cfg["task"], class_names=names)
