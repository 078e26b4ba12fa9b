"""AUC, precision, recall and F1 on classification heads, against scikit-learn (issue 19, item 8).

A fixed set of 3-class softmax outputs and integer labels (the form Keras users write);
Keras's AUC approximates the curve with `num_thresholds` points, so it is compared at
1e-3 with 2,000 thresholds and at 1e-2 with the default 200.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn import metrics as sk

from kerasopt.data.output_spec import output_spec
from kerasopt.metrics import HeadMetric, for_head

RNG = np.random.default_rng(19)
Y = RNG.integers(0, 3, size=60)
LOGITS = RNG.normal(size=(60, 3)) + 1.5 * np.eye(3)[Y]
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
PRED = PROBS.argmax(axis=1)
ONE_HOT = np.eye(3)[Y]


def _value(metric, y=Y, probs=PROBS, units=3, label_format="sparse", from_logits=False):
    metric = for_head(metric, units, label_format, from_logits=from_logits)
    metric.update_state(y[:35], probs[:35])  # two batches, as fit feeds them
    metric.update_state(y[35:], probs[35:])
    return float(metric.result())


def test_auc_is_micro_one_vs_rest_roc_auc():
    expected = sk.roc_auc_score(ONE_HOT, PROBS, average="micro")
    assert 0.7 < expected < 0.95
    assert _value(keras.metrics.AUC(num_thresholds=2000)) == pytest.approx(expected, abs=1e-3)
    assert _value("auc") == pytest.approx(expected, abs=1e-2)


def test_auc_from_logits_head_reads_probabilities():
    expected = sk.roc_auc_score(ONE_HOT, PROBS, average="micro")
    value = _value(keras.metrics.AUC(num_thresholds=2000), probs=LOGITS, from_logits=True)
    assert value == pytest.approx(expected, abs=1e-3)
    # A binary logits head with AUC(from_logits=True): the sigmoid is applied once.
    y, logit = (Y == 1).astype("float32").reshape(-1, 1), LOGITS[:, 1:2] - LOGITS[:, :1]
    value = _value(keras.metrics.AUC(num_thresholds=2000, from_logits=True), y=y, probs=logit,
                   units=1, label_format="binary", from_logits=True)
    assert value == pytest.approx(sk.roc_auc_score(y, logit), abs=1e-3)


def test_precision_and_recall_of_the_predicted_class():
    micro = sk.precision_score(Y, PRED, average="micro")
    assert micro == pytest.approx(sk.recall_score(Y, PRED, average="micro"))
    assert _value("precision") == pytest.approx(micro, abs=1e-6)
    assert _value(keras.metrics.Recall()) == pytest.approx(micro, abs=1e-6)
    per_class = sk.precision_score(Y, PRED, average=None)
    recall_per_class = sk.recall_score(Y, PRED, average=None)
    assert len(set(np.round(per_class, 6))) == 3  # the classes differ: class_id is really read
    for c in range(3):
        assert _value(keras.metrics.Precision(class_id=c)) == pytest.approx(per_class[c], abs=1e-6)
        assert _value(keras.metrics.Recall(class_id=c)) == pytest.approx(recall_per_class[c], abs=1e-6)


def test_f1_macro_by_default_and_as_asked():
    macro = sk.f1_score(Y, PRED, average="macro")
    assert _value("f1_score") == pytest.approx(macro, abs=1e-6)
    assert _value(keras.metrics.F1Score(average="weighted")) == pytest.approx(
        sk.f1_score(Y, PRED, average="weighted"), abs=1e-6)
    assert _value(keras.metrics.F1Score(average="micro")) == pytest.approx(
        sk.f1_score(Y, PRED, average="micro"), abs=1e-6)
    # One-hot labels (categorical crossentropy): not re-encoded, same numbers.
    assert _value("f1_score", y=ONE_HOT, label_format="one_hot") == pytest.approx(macro, abs=1e-6)


def test_binary_sigmoid_head():
    y = (Y == 1).astype("float32").reshape(-1, 1)
    p = PROBS[:, 1:2]
    assert _value(keras.metrics.AUC(num_thresholds=2000), y=y, probs=p, units=1,
                  label_format="binary") == pytest.approx(sk.roc_auc_score(y, p), abs=1e-3)
    hard = (p > 0.5).astype(int)
    assert _value("f1_score", y=y, probs=p, units=1, label_format="binary") == pytest.approx(
        sk.f1_score(y, hard), abs=1e-6)
    assert _value("precision", y=y, probs=p, units=1, label_format="binary") == pytest.approx(
        sk.precision_score(y, hard), abs=1e-6)


def test_regression_head_refuses_with_what_works():
    with pytest.raises(ValueError, match="`auc`.*regression.*mae"):
        for_head("auc", 1, "regression")
    assert for_head("mae", 1, "regression") == "mae"
    assert for_head("accuracy", 3, "sparse") == "accuracy"


def test_fit_with_integer_labels_and_saved_model_round_trip(tmp_path):
    """The issue's recipe in plain Keras: `metrics=[accuracy, auc]` on a 3-class softmax."""
    spec = output_spec("classification", 3)
    x = RNG.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0.5).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", spec.keras_loss(),
                  metrics=["accuracy"] + [spec.head_metric(m) for m in ("auc", "precision", "recall", "f1_score")])
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert {"accuracy", "auc", "precision", "recall", "f1_score"} <= set(history.history)
    results = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    probs = model.predict(x, verbose=0)
    assert results["auc"] == pytest.approx(sk.roc_auc_score(np.eye(3)[y], probs, average="micro"), abs=1e-2)
    assert results["f1_score"] == pytest.approx(sk.f1_score(y, probs.argmax(1), average="macro"), abs=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    again = loaded.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert again["auc"] == pytest.approx(results["auc"], abs=1e-6)
    assert isinstance(HeadMetric.from_config(HeadMetric(keras.metrics.AUC(), 3, True).get_config()).metric,
                      keras.metrics.AUC)


def test_recipe_with_auc_f1_and_precision_on_a_three_class_softmax(tmp_path):
    """The issue's recipe: `metrics: [accuracy, {type: auc}]` on a 3-class softmax died in fit
    with InvalidArgumentError (data.shape = [32] does not start with segment_ids.shape = [96])."""
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.run.runner import run
    from kerasopt.recipe.run.session import build_data
    from tests.tiny_recipe import write_tiny_recipe

    chosen = ["accuracy", {"type": "auc"}, "f1_score", {"type": "precision", "class_id": 1}]
    loaded = load_recipe(write_tiny_recipe(tmp_path, training={"epochs": 3, "metrics": chosen},
                                           export={"keras": True}))
    test = run(loaded, output_dir=str(tmp_path / "out"))["evaluation"]["test"]
    model = keras.saving.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    batches = [batch[:2] for batch in build_data(loaded.recipe).test]
    y = np.concatenate([np.asarray(b[1]) for b in batches])
    probs = np.concatenate([model.predict(b[0], verbose=0) for b in batches])
    assert y.shape == (60,) and probs.shape == (60, 3)
    pred = probs.argmax(axis=1)
    assert test["auc"] == pytest.approx(sk.roc_auc_score(np.eye(3)[y], probs, average="micro"), abs=1e-2)
    assert test["f1_score"] == pytest.approx(sk.f1_score(y, pred, average="macro"), abs=1e-5)
    assert test["precision"] == pytest.approx(
        sk.precision_score(y, pred, labels=[1], average=None, zero_division=0)[0], abs=1e-5)
    assert test["accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-6)
