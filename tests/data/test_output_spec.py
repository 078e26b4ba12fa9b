"""`output_spec`: one decision of head, label encoding, default loss and metrics."""

from __future__ import annotations

import pytest

from kerasopt.data.errors import DataError
from kerasopt.data.output_spec import output_spec, task_for_loss


@pytest.mark.parametrize("args, kwargs, expected", [
    (("classification", 3), {}, (3, "softmax", "sparse", "sparse_categorical_crossentropy", False)),
    (("classification", 2), {}, (2, "softmax", "sparse", "sparse_categorical_crossentropy", False)),
    (("classification", 2), {"loss": "binary_crossentropy"},
     (1, "sigmoid", "binary", "binary_crossentropy", False)),
    (("classification", 2), {"loss": {"type": "BinaryCrossentropy"}},
     (1, "sigmoid", "binary", "binary_crossentropy", False)),
    (("classification", 2), {"loss": "bce"}, (1, "sigmoid", "binary", "binary_crossentropy", False)),
    (("classification", 2), {"output_activation": "sigmoid"},
     (1, "sigmoid", "binary", "binary_crossentropy", False)),
    (("classification", 2), {"loss": {"type": "binary_crossentropy", "from_logits": True}},
     (1, "linear", "binary", "binary_crossentropy", True)),
    (("classification", 2), {"loss": "binary_crossentropy", "soft_labels": True},
     (1, "sigmoid", "binary", "binary_crossentropy", False)),
    (("classification", 4), {"soft_labels": True},
     (4, "softmax", "one_hot", "categorical_crossentropy", False)),
    (("classification", 4), {"loss": "categorical_crossentropy"},
     (4, "softmax", "one_hot", "categorical_crossentropy", False)),
    (("classification", 4), {"output_activation": "linear"},
     (4, "linear", "sparse", "sparse_categorical_crossentropy", True)),
    (("regression", None), {}, (1, "linear", "regression", "mean_squared_error", False)),
    (("regression", None), {"target_shape": (3,), "loss": "huber"},
     (3, "linear", "regression", "mean_squared_error", False)),
    (("classification", 5), {"loss": "my_custom_loss"},
     (5, "softmax", "sparse", "sparse_categorical_crossentropy", False)),
])
def test_decisions(args, kwargs, expected):
    spec = output_spec(*args, **kwargs)
    assert (spec.units, spec.activation, spec.label_format, spec.loss, spec.from_logits) == expected


@pytest.mark.parametrize("args, kwargs, key, match", [
    (("classification", 3), {"loss": "binary_crossentropy"}, "loss", "needs exactly 2 classes"),
    (("classification", 3), {"output_activation": "sigmoid"}, "output_activation", "this data has 3"),
    (("classification", 2), {"loss": "bce", "output_activation": "softmax"}, "output_activation",
     "softmax over one unit"),
    (("classification", 3), {"loss": "mse"}, "loss", "regression loss"),
    (("regression", None), {"loss": "sparse_categorical_crossentropy"}, "loss", "classification loss"),
    (("classification", 3), {"loss": "sparse_categorical_crossentropy", "soft_labels": True}, "loss",
     "soft"),
])
def test_refusals_carry_the_key(args, kwargs, key, match):
    with pytest.raises(DataError, match=match) as info:
        output_spec(*args, **kwargs)
    assert info.value.problem.key == key


def test_keras_defaults():
    import keras

    binary = output_spec("classification", 2, loss={"type": "bce", "from_logits": True})
    [metric] = binary.keras_metrics()
    assert isinstance(metric, keras.metrics.BinaryAccuracy) and metric.name == "accuracy"
    assert metric.threshold == 0.0  # logits: class 1 when the logit is positive
    loss = binary.keras_loss()
    assert isinstance(loss, keras.losses.BinaryCrossentropy) and loss.get_config()["from_logits"]
    assert output_spec("classification", 2, loss="bce").keras_metrics()[0].threshold == 0.5
    assert output_spec("regression", None).keras_loss() == "mean_squared_error"
    assert [m.name for m in output_spec("regression", None).keras_metrics()] == ["mae"]


def test_task_for_loss():
    assert [task_for_loss(x) for x in ("mse", "Huber", {"type": "mean_absolute_error"},
                                       "categorical_crossentropy", "hinge", "cosine_similarity")] == [
        "regression", "regression", "regression", "classification", "classification", None]


def test_encode_matches_the_pipeline_formats():
    import numpy as np

    y = np.array([2, 0, 1])
    assert output_spec("classification", 3).encode(y).tolist() == [2, 0, 1]
    assert output_spec("classification", 3, soft_labels=True).encode(y).tolist() == [
        [0, 0, 1], [1, 0, 0], [0, 1, 0]]
    binary = output_spec("classification", 2, output_activation="sigmoid").encode(np.array([1, 0]))
    assert binary.dtype == np.float32 and binary.shape == (2, 1)
