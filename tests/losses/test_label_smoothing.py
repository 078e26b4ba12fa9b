"""`training.label_smoothing`: smoothed cross-entropy on integer labels, and the recipe key."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from kerasopt.cli import main
from kerasopt.losses import SmoothedSparseCategoricalCrossentropy
from tests.tiny_recipe import write_tiny_recipe

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 5, size=16)
LOGITS = RNG.normal(size=(16, 5)).astype("float32") * 3


def _smoothed_ce(labels, probs, eps):
    """(1 - eps) * CE(one_hot) + eps * mean_k(-log p_k), per sample, averaged."""
    log_p = np.log(probs)
    true = -log_p[np.arange(len(labels)), labels]
    uniform = -log_p.mean(axis=1)
    return float(np.mean((1 - eps) * true + eps * uniform))


@pytest.mark.parametrize("from_logits", [True, False])
def test_the_sparse_loss_is_the_smoothed_crossentropy_and_keras_on_one_hot_labels(from_logits):
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    y_pred = LOGITS if from_logits else probs.astype("float32")
    one_hot = np.eye(5, dtype="float32")[LABELS]
    for eps in (0.1, 0.3):
        ours = float(SmoothedSparseCategoricalCrossentropy(eps, from_logits=from_logits)(LABELS, y_pred))
        keras_one_hot = float(keras.losses.CategoricalCrossentropy(
            from_logits=from_logits, label_smoothing=eps)(one_hot, y_pred))
        assert ours == pytest.approx(_smoothed_ce(LABELS, probs, eps), abs=1e-6)
        assert ours == pytest.approx(keras_one_hot, abs=1e-6)
    plain = float(keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(LABELS, y_pred))
    assert float(SmoothedSparseCategoricalCrossentropy(0.0, from_logits=from_logits)(
        LABELS[:, None], y_pred)) == pytest.approx(plain, abs=1e-6)


def test_a_recipe_with_label_smoothing_trains_with_the_smoothed_loss_and_its_file_reloads(tmp_path):
    out = tmp_path / "run"
    recipe = write_tiny_recipe(tmp_path, training={"epochs": 1, "label_smoothing": 0.1},
                               export={"keras": True})
    assert main(["run", recipe, "--output-dir", str(out)]) == 0
    [saved] = list(Path(out).rglob("*.keras"))
    model = keras.saving.load_model(saved, safe_mode=True)
    assert isinstance(model.loss, SmoothedSparseCategoricalCrossentropy)
    assert model.loss.label_smoothing == pytest.approx(0.1)


def test_validate_refuses_label_smoothing_with_a_loss_that_cannot_smooth(tmp_path, capsys):
    recipe = write_tiny_recipe(tmp_path, data={"task": "regression"},
                               training={"loss": "mse", "label_smoothing": 0.1})
    assert main(["validate", recipe]) == 2
    err = capsys.readouterr().err
    assert "training.label_smoothing" in err and "mse" in err and "0.1" in err


def test_a_regression_target_with_the_default_loss_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    recipe = write_tiny_recipe(tmp_path, data={"task": "regression"}, training={"label_smoothing": 0.1})
    assert main(["validate", recipe]) == 0  # the loss is known only once the data is read
    assert main(["run", recipe, "--output-dir", str(out)]) == 2
    assert "training.label_smoothing" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "bce", None])
def test_one_hot_and_binary_labels_get_keras_own_label_smoothing(loss):
    from kerasopt.data.output_spec import output_spec
    from kerasopt.recipe.format.schema_training import Training
    from kerasopt.recipe.run.assemble import training_loss

    classes = 2 if loss == "bce" else 5
    output = output_spec("classification", classes, loss=loss, soft_labels=loss is None)
    built = training_loss(Training(loss=loss, label_smoothing=0.2) if loss else Training(label_smoothing=0.2),
                          output)
    labels = LABELS % classes
    probs = np.exp(LOGITS[:, :classes]) / np.exp(LOGITS[:, :classes]).sum(axis=1, keepdims=True)
    if loss == "bce":
        p1 = probs[:, 1:].astype("float32")
        targets = labels[:, None] * 0.8 + 0.1
        expected = -np.mean(targets * np.log(p1) + (1 - targets) * np.log(1 - p1))
        assert float(built(labels[:, None].astype("float32"), p1)) == pytest.approx(expected, abs=1e-5)
    else:
        one_hot = np.eye(classes, dtype="float32")[labels]
        assert float(built(one_hot, probs.astype("float32"))) == pytest.approx(
            _smoothed_ce(labels, probs, 0.2), abs=1e-6)
