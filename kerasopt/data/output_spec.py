"""`OutputSpec`: the output layer, label encoding, default loss and metrics for a task and loss."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kerasopt.data.data_problem import DataProblem

# Loss names in canonical form (lowercase, no "_" or "-"), as Keras spells them or aliases them.
BINARY_LOSSES = frozenset({"binarycrossentropy", "bce", "binaryfocalcrossentropy", "hinge",
                           "squaredhinge"})
ONE_HOT_LOSSES = frozenset({"categoricalcrossentropy", "categoricalfocalcrossentropy",
                            "categoricalhinge", "kldivergence", "kld", "kullbackleiblerdivergence"})
SPARSE_LOSSES = frozenset({"sparsecategoricalcrossentropy"})
REGRESSION_LOSSES = frozenset({"meansquarederror", "mse", "meanabsoluteerror", "mae",
                               "meanabsolutepercentageerror", "mape", "meansquaredlogarithmicerror",
                               "msle", "huber", "logcosh", "poisson"})
LABEL_FORMATS = ("sparse", "one_hot", "binary", "regression")


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """The model's output layer and the label encoding that go with a task and a loss.

    One decision, shared by the data pipeline (which encodes the labels), the model
    builder (which builds the head) and the compile step (default loss and metrics),
    so the three can never disagree. Made by `output_spec`.

    Label formats: `"sparse"` (int32 class indices, shape `(n,)`), `"one_hot"`
    (float32 `(n, K)`; for mixup/cutmix soft labels and categorical losses),
    `"binary"` (float32 `(n, 1)` holding the probability of class 1, for a one-unit
    sigmoid head; soft under mixup) and `"regression"` (float32 targets as loaded).

    Args:
        units: Units of the output Dense layer.
        activation: Activation of the output layer (a Keras activation name).
        label_format: One of `LABEL_FORMATS`.
        loss: The loss used when the recipe names none (a Keras loss name).
        from_logits: Whether the head outputs logits (the loss must be told). Defaults
            to `False`.

    Example:
        >>> spec = output_spec("classification", 2, loss="binary_crossentropy")
        >>> spec.units, spec.activation, spec.label_format
        (1, 'sigmoid', 'binary')
        >>> output_spec("regression", None, target_shape=(3,)).head
        (3, 'linear')
    """

    units: int
    activation: str
    label_format: str
    loss: str
    from_logits: bool = False

    @property
    def head(self) -> tuple[int, str]:
        """`(units, activation)`, as `kerasopt.models.build_model(head=...)` takes it."""
        return self.units, self.activation

    def encode(self, y: Any) -> Any:
        """Encode integer labels (or regression targets) as NumPy arrays in `label_format`.

        For code that feeds arrays rather than the bundle's datasets (e.g. a batch-size
        search on `bundle.x_train, bundle.y_train`).

        Example:
            >>> output_spec("classification", 2, loss="bce").encode([0, 1, 1]).tolist()
            [[0.0], [1.0], [1.0]]
        """
        import numpy as np

        y = np.asarray(y)
        if self.label_format == "one_hot":
            return np.eye(self.units, dtype=np.float32)[y.astype(int).reshape(len(y))]
        if self.label_format == "binary":
            return y.reshape(len(y), 1).astype(np.float32)
        if self.label_format == "regression":
            return y.astype(np.float32)
        return y

    def keras_loss(self) -> Any:
        """The default loss as `compile` takes it: its name, or a Keras loss with `from_logits`."""
        if not self.from_logits:
            return self.loss
        import keras

        return getattr(keras.losses, _class_name(self.loss))(from_logits=True)

    def keras_metrics(self) -> list[Any]:
        """The default metrics: accuracy for classification (binary accuracy, thresholded at
        0.5 on probabilities or 0 on logits, for a one-unit head), MAE for regression.

        The accuracy keeps the name `"accuracy"` whatever its kind, so `metrics.json`
        always reports `evaluation.test.accuracy` for classification.
        """
        import keras

        if self.label_format == "regression":
            return [keras.metrics.MeanAbsoluteError(name="mae")]
        if self.label_format == "binary":
            return [keras.metrics.BinaryAccuracy(name="accuracy",
                                                 threshold=0.0 if self.from_logits else 0.5)]
        if self.label_format == "one_hot":
            return [keras.metrics.CategoricalAccuracy(name="accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


    def head_metric(self, metric: Any) -> Any:
        """A recipe's metric fitted to this head (`kerasopt.metrics.for_head`): AUC, precision,
        recall and F1 one-hot encode integer labels and read probabilities from logits."""
        from kerasopt.metrics import for_head

        return for_head(metric, self.units, self.label_format, from_logits=self.from_logits)


def loss_name(loss: Any) -> str | None:
    """The canonical name of a loss spec (`"bce"`, `{"type": "BinaryCrossentropy"}`), or None."""
    if isinstance(loss, Mapping):
        loss = loss.get("type")
    if not isinstance(loss, str):
        return None
    return re.sub(r"[_\-]", "", loss).lower()


def task_for_loss(loss: Any) -> str | None:
    """The task a loss implies: "regression", "classification", or None (no loss, unknown loss).

    Example:
        >>> task_for_loss("mse"), task_for_loss({"type": "binary_crossentropy"}), task_for_loss(None)
        ('regression', 'classification', None)
    """
    name = loss_name(loss)
    if name in REGRESSION_LOSSES:
        return "regression"
    if name in BINARY_LOSSES | ONE_HOT_LOSSES | SPARSE_LOSSES:
        return "classification"
    return None


def output_spec(task: str, num_classes: int | None, *, target_shape: Sequence[int] = (),
                loss: Any = None, output_activation: str = "auto",
                soft_labels: bool = False) -> OutputSpec:
    """Decide the output layer and label encoding for a task, a loss and an output activation.

    Classification: a one-unit sigmoid head with float `(n, 1)` labels when the loss is
    a binary one (binary crossentropy, binary focal crossentropy, hinge, squared
    hinge) or, with no loss named, when `output_activation` is sigmoid; this needs
    exactly two classes. Otherwise a `num_classes`-unit softmax head with sparse
    labels, or one-hot labels for soft labels (mixup, cutmix) and categorical losses.
    Regression: a linear head with one unit per target value (`prod(target_shape)`).
    A loss spec with `from_logits: true` makes the "auto" activation linear.
    Unknown (custom) losses keep the task's default head and labels.

    Args:
        task: "classification" or "regression".
        num_classes: The number of classes, or `None` for regression.
        target_shape: The shape of one regression target: `()` or `(k,)`. Defaults to `()`.
        loss: The recipe's loss (a name or `{"type": name, ...}`), or `None` for the
            default. Defaults to `None`.
        output_activation: The model's `output_activation`; "auto" picks it. Defaults
            to `"auto"`.
        soft_labels: Whether mixup or cutmix makes the labels soft. Defaults to `False`.

    Returns:
        The `OutputSpec`.

    Raises:
        DataError: With a `DataProblem` (section `training`, key `loss`, or section
            `model`, key `output_activation`) when the loss or activation cannot fit the
            data: a binary loss or sigmoid head with other than two classes, a
            regression loss on class labels, a classification loss on a regression
            target, or sparse crossentropy with soft labels.
    """
    name = loss_name(loss)
    logits = isinstance(loss, Mapping) and bool(loss.get("from_logits", False))
    shown = loss.get("type") if isinstance(loss, Mapping) else loss
    if task == "regression":
        if task_for_loss(loss) == "classification":
            raise DataProblem("loss", f"`loss: {shown}` is a classification loss, but the "
                              "data is a regression target. Use mean_squared_error, "
                              "mean_absolute_error or huber, or set `data.task: classification`.",
                              shown, sorted(REGRESSION_LOSSES), section="training").error()
        if len(target_shape) > 1:
            raise DataProblem("task", f"Regression targets must be one value or a vector per "
                              f"sample; these have shape {tuple(target_shape)} per sample.",
                              list(target_shape)).error()
        units = math.prod(target_shape) if target_shape else 1
        return OutputSpec(units, _activation(output_activation, "linear"), "regression",
                          "mean_squared_error")
    if task_for_loss(loss) == "regression":
        raise DataProblem("loss", f"`loss: {shown}` is a regression loss, but the data is "
                          f"classification ({num_classes} classes). Use a crossentropy loss, or "
                          "set `data.task: regression` for a numeric target.", shown,
                          ["sparse_categorical_crossentropy", "binary_crossentropy"],
                          section="training").error()
    binary = name in BINARY_LOSSES or (name is None and output_activation == "sigmoid")
    if binary:
        if num_classes != 2:
            key, section, received = (("loss", "training", shown) if name is not None
                                      else ("output_activation", "model", output_activation))
            raise DataProblem(key, f"A one-unit sigmoid head ({key}: {received}) needs exactly 2 "
                              f"classes; this data has {num_classes}. Use the default softmax "
                              "head with sparse_categorical_crossentropy.", received, None,
                              section=section).error()
        if output_activation == "softmax":
            raise DataProblem("output_activation", f"`loss: {shown}` trains a one-unit head, and "
                              "softmax over one unit is always 1. Use sigmoid (or auto).",
                              output_activation, ["auto", "sigmoid", "linear"],
                              section="model").error()
        activation = _activation(output_activation, "linear" if logits else "sigmoid")
        return OutputSpec(1, activation, "binary", "binary_crossentropy",
                          from_logits=activation == "linear")
    if soft_labels and name in SPARSE_LOSSES:
        raise DataProblem("loss", "mixup and cutmix make soft (one-hot) labels, which sparse "
                          "categorical crossentropy cannot take. Use categorical_crossentropy "
                          "(or leave `loss` unset).", shown, ["categorical_crossentropy"],
                          ["categorical_crossentropy"], section="training").error()
    one_hot = soft_labels or name in ONE_HOT_LOSSES
    activation = _activation(output_activation, "linear" if logits else "softmax")
    return OutputSpec(int(num_classes or 1), activation, "one_hot" if one_hot else "sparse",
                      "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy",
                      from_logits=activation == "linear")


def _activation(output_activation: str, auto: str) -> str:
    return auto if output_activation in ("auto", None) else output_activation


def _class_name(loss: str) -> str:
    return "".join(part.capitalize() for part in loss.split("_"))
