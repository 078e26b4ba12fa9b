"""Distiller: bad input, config and .keras round trips, and distillation beating labels alone."""

import os

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.compression.distillation import (
    Distiller,
    FeatureDistillation,
    LogitsDistillation,
    distill,
)


def _mlp(width, classes=3, activation=None, name=None, prefix="d"):
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(width, activation="relu", name=f"{prefix}_hidden"),
                             keras.layers.Dense(classes, activation=activation, name=f"{prefix}_out")], name=name)


# --- bad input ---------------------------------------------------------------------------------

def test_refuses_outputs_with_different_classes():
    with pytest.raises(ValueError, match=r"same shape.*teacher output shape \(None, 10\), student output shape \(None, 5\)"):
        distill(_mlp(4, classes=5), _mlp(16, classes=10))


def test_missing_feature_layer_suggests_close_names():
    student, teacher = _mlp(4, prefix="s"), _mlp(16, prefix="t")
    with pytest.raises(ValueError, match=r"`student_layer`='s_hiden' is not a layer of the student model.*"
                                         r"Did you mean 's_hidden'\?.*Its layers: s_hidden, s_out"):
        distill(student, teacher, features=[("s_hiden", "t_hidden")])
    with pytest.raises(ValueError, match=r"`teacher_layer`='hidden' is not a layer of the teacher model.*"
                                         r"Did you mean 't_hidden'\?"):
        distill(student, teacher, features=[{"student_layer": "s_hidden", "teacher_layer": "hidden"}])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"temperature": 0.0}, r"`temperature` must be a number > 0.0. Received: temperature=0.0"),
    ({"temperature": -2}, r"Received: temperature=-2"),
    ({"temperature": keras.optimizers.schedules.PolynomialDecay(0.0, 10, 1.0)},
     r"`temperature` schedule PolynomialDecay starts outside.*temperature\(0\)=0.0"),
    ({"temperature": lambda step: 2.0}, r"`temperature` must be a number or a keras.optimizers.schedules"),
    ({"alpha": 1.5}, r"`alpha` must be a number >= 0.0 and <= 1.0. Received: alpha=1.5"),
    ({"alpha": -0.1}, r"Received: alpha=-0.1"),
    ({"alpha": keras.optimizers.schedules.PolynomialDecay(2.0, 10, 0.5)}, r"alpha\(0\)=2.0"),
    ({"logits_weight": 0.0}, r"Nothing to distill"),
    ({"features": "s_hidden"}, r"`features` must be a list of layer pairs"),
    ({"features": [("s_hidden",)]}, r"A `features` entry must be a \(student_layer, teacher_layer\) pair"),
    ({"features": [{"student_layer": "s_hidden"}]}, r"needs keys student_layer and teacher_layer"),
    ({"teacher_output": "probs"}, r"`teacher_output` must be one of 'auto', 'logits', 'probabilities'"),
])
def test_bad_arguments_name_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        distill(_mlp(4, prefix="s"), _mlp(16, prefix="t"), **kwargs)


def test_refuses_outputs_auto_cannot_read_and_bad_models():
    with pytest.raises(ValueError, match=r"activation 'sigmoid'.*use FeatureDistillation"):
        distill(_mlp(4, activation="sigmoid"), _mlp(16))
    pooled = keras.Sequential([keras.Input((4, 8)), keras.layers.Dense(3), keras.layers.GlobalAveragePooling1D()])
    with pytest.raises(ValueError, match=r"ends in layer .* which has no activation. Pass teacher_output="):
        distill(keras.Sequential([keras.Input((4, 8)), keras.layers.Flatten(), keras.layers.Dense(3)]), pooled)
    model = _mlp(4)
    with pytest.raises(ValueError, match="are the same model"):
        Distiller(model, model)
    with pytest.raises(ValueError, match="`teacher` must be a keras.Model"):
        Distiller(model, "teacher.keras")
    with pytest.raises(ValueError, match="`strategies` must be a non-empty list"):
        Distiller(model, _mlp(16), strategies=[])


def test_compile_needs_a_label_loss_unless_alpha_is_one():
    distiller = distill(_mlp(4), _mlp(16), alpha=0.5)
    with pytest.raises(ValueError, match=r"needs a label `loss` because alpha=0.5"):
        distiller.compile("adam")
    with pytest.raises(ValueError, match="takes no `loss_weights`"):
        distiller.compile("adam", loss="mse", loss_weights=[1.0])
    distill(_mlp(4), _mlp(16), alpha=1.0).compile("adam")  # pure distillation: no labels needed


# --- configs and saving ------------------------------------------------------------------------

def test_strategy_configs_round_trip_three_ways():
    schedule = keras.optimizers.schedules.PolynomialDecay(4.0, 100, 1.0)
    for strategy in (LogitsDistillation(schedule, weight=0.5),
                     FeatureDistillation("a", "b", weight=2.0, projection="always")):
        config = strategy.get_config()
        again = type(strategy).from_config(config)
        assert again.get_config() == config
        loaded = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(strategy))
        assert type(loaded) is type(strategy) and loaded.get_config() == config
    built = registry.build("distillation_strategy", {
        "type": "LogitsDistillation", "weight": 0.5,
        "temperature": {"type": "PolynomialDecay", "initial_learning_rate": 4.0, "decay_steps": 100,
                        "end_learning_rate": 1.0}})
    assert built.get_config() == LogitsDistillation(schedule, weight=0.5).get_config()


def _trained(alpha=0.7):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)
    distiller = distill(_mlp(4, activation="softmax", prefix="s"), _mlp(16, prefix="t"), alpha=alpha,
                        temperature=keras.optimizers.schedules.PolynomialDecay(4.0, 4, 1.0),
                        features=[("s_hidden", "t_hidden")])
    distiller.compile(keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    distiller.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return distiller, x, y


def test_distiller_config_rebuilds_the_same_distiller():
    distiller, x, _ = _trained()
    config = distiller.get_config()
    assert sorted(config) == ["alpha", "name", "strategies", "student", "student_output", "teacher",
                              "teacher_output"]
    again = Distiller.from_config(config)
    assert again.get_config() == config
    assert [a.get_config() for a in again.adapters] == [a.get_config() for a in distiller.adapters]


def test_distiller_keras_round_trip_with_safe_mode(tmp_path):
    distiller, x, y = _trained()
    path = os.fspath(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, Distiller) and loaded.teacher.trainable is False
    np.testing.assert_allclose(loaded.predict(x, verbose=0), distiller.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(loaded.adapters[0].projection.kernel.numpy(),
                               distiller.adapters[0].projection.kernel.numpy())
    assert int(loaded.optimizer.iterations.numpy()) == 4
    before = distiller.evaluate(x, y, verbose=0, return_dict=True)
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    for key in ("loss", "distillation_loss", "label_loss", "accuracy"):
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # and training continues


def test_student_alone_saves_without_adapters_or_teacher(tmp_path):
    distiller, x, _ = _trained()
    path = os.fspath(tmp_path / "student.keras")
    distiller.student.save(path)
    student = keras.models.load_model(path, safe_mode=True)
    assert [layer.name for layer in student.layers] == ["s_hidden", "s_out"]
    assert sum(np.prod(w.shape) for w in student.weights) == 8 * 4 + 4 + 4 * 3 + 3
    np.testing.assert_allclose(student.predict(x, verbose=0), distiller.predict(x, verbose=0), atol=1e-6)


# --- does it help ------------------------------------------------------------------------------

def _kl_to_teacher(teacher, student, x):
    p = keras.ops.convert_to_numpy(keras.ops.softmax(teacher(x)))
    q = np.clip(student.predict(x, verbose=0), 1e-7, 1)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1)))


@pytest.mark.slow
def test_distilled_student_matches_the_teacher_better_than_one_trained_on_labels():
    # The teacher is a fixed random MLP; labels are its argmax. A student trained on the
    # labels learns the decision but not the teacher's confidence; a distilled one should
    # match the teacher's distribution (KL at T=1 on held-out inputs) far better
    # (measured on CPU: 0.91 with labels, 0.027 distilled).
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x, x_test = rng.normal(size=(512, 8)).astype("float32"), rng.normal(size=(512, 8)).astype("float32")
    teacher = _mlp(64, classes=4, prefix="t")
    teacher.layers[-1].kernel.assign(teacher.layers[-1].kernel * 3)
    y = np.argmax(teacher.predict(x, verbose=0), axis=-1)
    start = _mlp(16, classes=4, activation="softmax", prefix="s")
    results = {}
    for name in ("labels", "distilled"):
        student = keras.models.clone_model(start)
        student.set_weights(start.get_weights())
        if name == "labels":
            model = student
            model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        else:
            model = distill(student, teacher, temperature=2.0, alpha=0.9)
            model.compile(keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=20, batch_size=64, verbose=0)
        results[name] = _kl_to_teacher(teacher, student, x_test)
    assert results["distilled"] < 0.5 * results["labels"], results
