"""`HeadMetric`: a Keras classification metric fed labels and predictions in the form it needs.

Keras's confusion-matrix metrics (`AUC`, `Precision`, `Recall`, `TruePositives`...) and
`F1Score`/`FBetaScore` compare `y_true` and `y_pred` element by element, so they need
labels shaped like the predictions. A `K`-unit softmax head trained on integer labels
(sparse categorical crossentropy, what Keras users write) gives them `(n,)` labels for
`(n, K)` predictions, and `fit` dies with `InvalidArgumentError: data.shape = [32] does not
start with segment_ids.shape = [96]`. `for_head` wraps such a metric so that:

- integer labels are one-hot encoded over the head's `K` units;
- a head that outputs logits has its outputs turned into probabilities first (softmax over
  `K > 1` units, sigmoid for one unit);
- on a multiclass head (`K > 1`), `Precision` and `Recall` without `thresholds`/`top_k`
  count the arg-max class (`top_k=1`): micro-averaged precision and recall of the predicted
  class, as `sklearn.metrics.precision_score(y, argmax, average="micro")`; with `class_id`
  the precision of that class;
- `F1Score`/`FBetaScore` without `average` report the macro average (one number, as every
  other metric; Keras's default is a per-class vector); on a one-unit sigmoid head, without
  `threshold`, they threshold at 0.5 (Keras's arg-max over one unit always picks class 0).

`AUC` (`multi_label=False`) on a multiclass head is then the micro-averaged one-vs-rest
ROC AUC, `sklearn.metrics.roc_auc_score(one_hot(y), probs, average="micro")`.
"""

from __future__ import annotations

from typing import Any

import keras

# Metrics that compare labels and predictions element by element.
_ELEMENTWISE = (
    keras.metrics.AUC, keras.metrics.Precision, keras.metrics.Recall,
    keras.metrics.TruePositives, keras.metrics.FalsePositives, keras.metrics.TrueNegatives,
    keras.metrics.FalseNegatives, keras.metrics.PrecisionAtRecall,
    keras.metrics.RecallAtPrecision, keras.metrics.SensitivityAtSpecificity,
    keras.metrics.SpecificityAtSensitivity, keras.metrics.FBetaScore,
)


@keras.saving.register_keras_serializable(package="kerasopt")
class HeadMetric(keras.metrics.Metric):
    """A metric that one-hot encodes integer labels and turns logits into probabilities.

    Reports under the wrapped metric's name. Made by `for_head`, which also fills in the
    multiclass defaults described in the module docstring.

    Args:
        metric: The Keras metric to feed (a `keras.metrics.Metric`, or its serialized form).
        units: Units of the model's output layer.
        sparse_labels: Whether the labels are integer class indices to one-hot encode.
            Defaults to `False`.
        from_logits: Whether the head outputs logits. Defaults to `False`.

    Example:
        >>> import numpy as np
        >>> auc = HeadMetric(keras.metrics.AUC(), units=3, sparse_labels=True)
        >>> auc.update_state(np.array([0, 1, 2]), np.eye(3))
        >>> float(auc.result())
        1.0
    """

    def __init__(self, metric: Any, units: int, sparse_labels: bool = False,
                 from_logits: bool = False, **kwargs: Any) -> None:
        if isinstance(metric, dict):
            metric = keras.saving.deserialize_keras_object(metric)
        if not isinstance(metric, keras.metrics.Metric):
            raise TypeError(f"`metric` must be a keras.metrics.Metric. Received: metric={metric!r} "
                            f"of type {type(metric).__module__}.{type(metric).__name__}")
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be an integer >= 1. Received: units={units!r}")
        kwargs.setdefault("name", metric.name)
        kwargs.setdefault("dtype", metric.dtype)
        super().__init__(**kwargs)
        self.metric = metric
        self.units = units
        self.sparse_labels = sparse_labels
        self.from_logits = from_logits

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """Encode the labels and predictions as the wrapped metric needs, then update it."""
        y_pred = keras.ops.convert_to_tensor(y_pred)
        if self.from_logits:
            y_pred = keras.ops.softmax(y_pred) if self.units > 1 else keras.ops.sigmoid(y_pred)
        if self.sparse_labels:
            y_true = keras.ops.reshape(keras.ops.convert_to_tensor(y_true), (-1,))
            y_true = keras.ops.one_hot(keras.ops.cast(y_true, "int32"), self.units, dtype=y_pred.dtype)
        return self.metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self) -> Any:
        """The wrapped metric's result."""
        return self.metric.result()

    def reset_state(self) -> None:
        """Reset the wrapped metric."""
        self.metric.reset_state()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (the wrapped metric serialized)."""
        return {"metric": keras.saving.serialize_keras_object(self.metric), "units": self.units,
                "sparse_labels": self.sparse_labels, "from_logits": self.from_logits,
                "name": self.name, "dtype": self.dtype}


def for_head(metric: Any, units: int, label_format: str, from_logits: bool = False) -> Any:
    """The metric `compile` should get for a model head and its label format.

    Args:
        metric: A metric as `compile` takes it (a name, a function or a `keras.metrics.Metric`).
        units: Units of the model's output layer.
        label_format: `"sparse"`, `"one_hot"`, `"binary"` or `"regression"`
            (`kerasopt.data.output_spec.LABEL_FORMATS`).
        from_logits: Whether the head outputs logits. Defaults to `False`.

    Returns:
        A `HeadMetric` around `metric` (rebuilt with the multiclass defaults of the module
        docstring) when it compares labels and predictions element by element and the
        head is a classifier; `metric` itself otherwise (`"accuracy"` is left to compile).

    Raises:
        ValueError: If such a metric is asked of a regression head.
    """
    if isinstance(metric, str) and metric.lower() not in ("accuracy", "acc"):
        try:
            found = keras.metrics.get(metric)
        except ValueError:
            found = None
        if isinstance(found, _ELEMENTWISE):  # named as written, as compile names it
            metric = type(found).from_config({**found.get_config(), "name": metric})
    if not isinstance(metric, _ELEMENTWISE):
        return metric
    if label_format == "regression":
        raise ValueError(f"The metric `{metric.name}` ({type(metric).__name__}) needs class labels, "
                         "but the model is a regression model; use mae, mse or "
                         "root_mean_squared_error.")
    config = metric.get_config()
    from_logits = from_logits and not config.get("from_logits", False)  # AUC(from_logits=True)
    changes: dict[str, Any] = {}
    if isinstance(metric, keras.metrics.FBetaScore):
        if config.get("average") is None:
            changes["average"] = "macro"
        if units == 1 and config.get("threshold") is None:
            changes["threshold"] = 0.5
    elif (units > 1 and isinstance(metric, keras.metrics.Precision | keras.metrics.Recall)
          and config.get("thresholds") is None and config.get("top_k") is None):
        changes["top_k"] = 1
    if changes:
        metric = type(metric).from_config({**config, **changes})
    sparse = label_format == "sparse" and units > 1
    if not sparse and not from_logits:
        return metric
    return HeadMetric(metric, units=units, sparse_labels=sparse, from_logits=from_logits)
