"""Loss and metric names: the validator accepts what `model.compile` accepts, and no more."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.compile_names import COMPILE_SHORTHANDS
from kerasopt.recipe.check.components import check_component, table
from kerasopt.recipe.run.assemble import compile_argument


@pytest.mark.parametrize(("kind", "name"), [
    ("loss", "mse"), ("loss", "MSE"), ("loss", "mae"), ("loss", "mape"), ("loss", "msle"), ("loss", "bce"),
    ("loss", "kld"), ("loss", "huber"), ("loss", "log_cosh"), ("loss", "crossentropy"), ("loss", "ce"),
    ("metric", "acc"), ("metric", "accuracy"), ("metric", "mse"), ("metric", "mae"), ("metric", "bce"),
    ("metric", "sparse_categorical_accuracy"), ("metric", "mape"), ("metric", "msle"),
])
def test_keras_short_names_validate(kind, name):
    assert check_component(kind, name, ("training", "loss")) == []


@pytest.mark.parametrize(("kind", "name", "suggestion"), [
    ("loss", "msee", "mse"), ("metric", "accuracyy", "accuracy"), ("metric", "huber", None),
])
def test_near_misses_get_a_did_you_mean_and_non_compile_names_are_refused(kind, name, suggestion):
    (problem,) = check_component(kind, name, ("training", "metrics", 0))
    assert f"unknown {kind}" in problem.message
    if suggestion:
        assert suggestion in [s.lower() for s in problem.suggestions]


def test_every_table_loss_and_metric_name_compiles():
    # Every name the validator accepts for Keras (as written, in another case, without
    # underscores) must become something `model.compile` takes.
    for kind in ("loss", "metric"):
        for entry in table()["kinds"][kind].values():
            if entry["source"] != "keras" or any(p["required"] for p in entry["params"]):
                continue  # kerasopt's own are built from the registry; IoU needs num_classes
            for spelling in (entry["name"], entry["name"].upper(), entry["name"].replace("_", "")):
                argument = compile_argument(kind, spelling)
                if isinstance(argument, str) and argument.lower() not in COMPILE_SHORTHANDS[kind]:
                    module = keras.losses if kind == "loss" else keras.metrics
                    assert module.get(argument) is not None, (kind, spelling)


def test_compile_argument_gives_keras_spelling():
    assert compile_argument("loss", "mse") == "mse"
    assert compile_argument("loss", "Mse") == "mse"
    assert compile_argument("metric", "ACC") == "ACC"
    assert compile_argument("loss", "meansquarederror") == "MeanSquaredError"
    built = compile_argument("loss", "CategoricalGeneralizedCrossEntropy")
    assert callable(built)  # not in Keras's lookup table, so built here rather than named


def test_short_names_build_with_arguments():
    metric = registry.build("metric", {"type": "mse", "name": "m"})
    assert isinstance(metric, keras.metrics.MeanSquaredError) and metric.name == "m"


def test_compile_accepts_the_shorthands():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="ce", metrics=["acc"])
    logs = model.evaluate(np.zeros((4, 3)), np.array([0, 1, 0, 1]), verbose=0, return_dict=True)
    assert logs["acc"] == 0.5  # sparse accuracy of a constant prediction on balanced labels
