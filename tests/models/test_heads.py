"""Binary (one-unit sigmoid) and regression heads: built from the data's OutputSpec, trained, checked."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.data.build import build_data
from kerasopt.models.build import build_model


def _compile(model, bundle, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=bundle.output.keras_loss(),
                  metrics=bundle.output.keras_metrics())
    return model


@pytest.mark.slow
def test_binary_crossentropy_head_trains_and_predicts_probabilities(tables):
    bundle = build_data("npz", {"path": tables["breast_cancer"]["npz"]}, batch_size=64,
                        normalization="standardize", loss="binary_crossentropy", seed=0)
    assert bundle.output.head == (1, "sigmoid") and bundle.output.label_format == "binary"
    x, y = next(iter(bundle.train))
    assert tuple(y.shape) == (64, 1) and y.dtype == "float32"
    keras.utils.set_random_seed(0)
    model = build_model({"architecture": "mlp", "units": [16]}, input_shape=bundle.input_shape,
                        num_classes=bundle.num_classes, normalizer=bundle.normalizer,
                        head=bundle.output.head)
    assert model.output_shape == (None, 1) and model.get_layer("head").activation.__name__ == "sigmoid"
    _compile(model, bundle, 0.01).fit(bundle.train, epochs=5, verbose=0, shuffle=False)
    probabilities = model.predict(bundle.x_test, verbose=0)
    assert probabilities.shape == (len(bundle.x_test), 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # The metric is binary accuracy named "accuracy": recompute it from the predictions.
    result = model.evaluate(bundle.test, verbose=0, return_dict=True)
    expected = np.mean((probabilities[:, 0] > 0.5) == (bundle.y_test == 1))
    assert result["accuracy"] == pytest.approx(expected, abs=1e-6)
    assert expected > 0.9  # breast_cancer is nearly linearly separable


def test_sigmoid_output_activation_alone_selects_the_binary_head(tables):
    bundle = build_data("csv", {"path": tables["breast_cancer"]["csv"], "target": "target"},
                        output_activation="sigmoid", validation_split=0.0)
    assert bundle.output.head == (1, "sigmoid") and bundle.output.loss == "binary_crossentropy"
    model = build_model({"architecture": "layers", "layers": [
        {"type": "dense", "units": 1, "activation": "sigmoid"}]}, input_shape=bundle.input_shape,
        num_classes=bundle.num_classes, head=bundle.output.head)
    _compile(model, bundle, 0.01).fit(bundle.train.take(2), verbose=0, shuffle=False)
    with pytest.raises(ValueError, match="must end with a layer of 2 units.*binary_crossentropy"):
        build_model({"architecture": "layers", "layers": [{"type": "dense", "units": 1}]},
                    input_shape=bundle.input_shape, num_classes=2)


def test_logits_head_and_mixup_soft_binary_labels(tables):
    bundle = build_data("npz", {"path": tables["breast_cancer"]["npz"]}, batch_size=128,
                        loss={"type": "binary_crossentropy", "from_logits": True},
                        augmentation=[{"type": "mixup", "alpha": 0.4}], seed=1)
    assert bundle.output.head == (1, "linear") and bundle.output.from_logits
    _, y = next(iter(bundle.train))
    y = np.asarray(y)
    assert y.shape == (128, 1) and np.all((y >= 0) & (y <= 1))
    assert np.any((y > 0.01) & (y < 0.99))  # mixed, so some labels are strictly between 0 and 1
    _, y_test = next(iter(bundle.test))
    assert set(np.unique(np.asarray(y_test))) <= {0.0, 1.0}  # test labels are never mixed


@pytest.mark.slow
def test_regression_head_beats_predicting_the_mean(tables):
    bundle = build_data("npz", {"path": tables["diabetes"]["npz"]}, loss="mean_squared_error",
                        batch_size=32, normalization="standardize", validation_split=0.0, seed=0)
    assert bundle.task == "regression" and bundle.output.head == (1, "linear")
    keras.utils.set_random_seed(0)
    model = build_model({"architecture": "mlp", "units": [32]}, input_shape=bundle.input_shape,
                        num_classes=None, normalizer=bundle.normalizer, head=bundle.output.head)
    _compile(model, bundle, 0.05).fit(bundle.train, epochs=30, verbose=0, shuffle=False)
    predictions = model.predict(bundle.x_test, verbose=0)
    assert predictions.shape == (len(bundle.x_test), 1)
    mse = float(np.mean((predictions[:, 0] - bundle.y_test) ** 2))
    baseline = float(np.mean((bundle.y_train.mean() - bundle.y_test) ** 2))
    assert model.evaluate(bundle.test, verbose=0, return_dict=True)["loss"] == pytest.approx(mse, rel=1e-4)
    # About 3470 against 5135 here; a linear least-squares fit reaches about 3000 on this split.
    assert mse < 0.8 * baseline


def test_two_output_regression_head(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    np.savez(tmp_path / "two.npz", x=x, y=x[:, :2] @ np.array([[1.0, -0.5], [0.25, 2.0]]))
    bundle = build_data("npz", {"path": str(tmp_path / "two.npz")}, validation_split=0.0)
    model = build_model({"architecture": "mlp", "units": [8]}, input_shape=(4,), num_classes=None,
                        head=bundle.output.head)
    assert model.output_shape == (None, 2)
    _compile(model, bundle, 0.01).fit(bundle.train.take(3), verbose=0, shuffle=False)
    assert model.predict(bundle.x_test, verbose=0).shape == (40, 2)


def test_head_argument_is_checked():
    with pytest.raises(ValueError, match=r"`head` must be None or \(units, activation\).*head=\(0, 'linear'\)"):
        build_model({"architecture": "mlp"}, input_shape=(3,), num_classes=None, head=(0, "linear"))
    with pytest.raises(ValueError, match="output_activation"):
        build_model({"architecture": "mlp"}, input_shape=(3,), num_classes=2, head=(1, "sigmoidd"))
