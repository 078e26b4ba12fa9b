"""Distillation into pruned and quantization-aware students, and their export."""

import os

import keras
import numpy as np
import pytest

from kerasopt.compression.distillation import distill
from kerasopt.compression.pruning import (
    PolynomialDecay,
    UpdatePruning,
    prune_low_magnitude,
    pruning_summary,
    strip_pruning,
)
from kerasopt.compression.quantization import quantize_model


def _data(n=256):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12)).astype("float32")
    return x, (x[:, :3] @ np.array([1.0, -1.0, 0.5])  > 0).astype("int32") + (x[:, 3] > 0)


def _trained_teacher(x, y):
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((12,)), keras.layers.Dense(64, activation="relu", name="t_hidden"),
                                keras.layers.Dense(3, activation="softmax", name="t_out")], name="teacher")
    teacher.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    teacher.fit(x, y, epochs=5, batch_size=32, verbose=0)
    return teacher


def _student(x, y, separate_softmax=False):
    head = ([keras.layers.Dense(3, name="out"), keras.layers.Softmax(name="probs")] if separate_softmax
            else [keras.layers.Dense(3, activation="softmax", name="out")])
    student = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                                *head], name="student")
    student.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    student.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return student


@pytest.mark.slow
def test_pruned_student_reaches_the_schedule_sparsity_and_keeps_its_zeros(tmp_path):
    x, y = _data()
    teacher, student = _trained_teacher(x, y), _student(x, y)
    schedule = PolynomialDecay(0.0, 0.75, begin_step=0, end_step=16, frequency=4)
    pruned = prune_low_magnitude(student, schedule)
    distiller = distill(pruned, teacher, temperature=3.0, alpha=0.8, features=[("hidden", "t_hidden")])
    distiller.compile(keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = UpdatePruning(log_dir=str(tmp_path / "logs"))
    distiller.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[callback])  # 24 steps
    # The callback found the wrappers inside the distiller (student nested in it).
    assert {int(layer.pruning_step.numpy()) for layer in pruned.layers} == {24}
    summary = pruning_summary(pruned)
    assert summary["layers"] == {"hidden": 0.75, "out": pytest.approx(0.75, abs=0.02)}
    masks = {layer.layer.name: layer.mask.numpy() for layer in pruned.layers}
    distiller.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callback])  # past end_step: masks fixed
    for layer in pruned.layers:
        np.testing.assert_array_equal(layer.mask.numpy(), masks[layer.layer.name])
        assert np.all(layer.layer.kernel.numpy()[masks[layer.layer.name] == 0] == 0)
    final = strip_pruning(distiller.student)
    assert pruning_summary(final)["sparsity"] == pytest.approx(summary["sparsity"])
    assert [layer.name for layer in final.layers] == ["hidden", "out"]
    # TensorBoard sparsity counts the student's kernels, not the teacher's.
    tags = _scalars(tmp_path / "logs" / "train")
    assert sorted(tags) == ["pruning/sparsity", "pruning/sparsity/hidden", "pruning/sparsity/out",
                            "pruning/target_sparsity"]
    assert tags["pruning/sparsity"][-1] == pytest.approx(summary["sparsity"])


def _scalars(folder):
    import tensorflow as tf

    values = {}
    for name in os.listdir(folder):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return values


@pytest.mark.slow
def test_qat_student_distilled_then_exported_to_a_working_int8_file(tmp_path):
    from kerasopt.export.tflite import export_tflite
    from kerasopt.export.tflite_verify import verify_tflite

    x, y = _data(512)
    teacher, student = _trained_teacher(x, y), _student(x, y, separate_softmax=True)
    qat = quantize_model(student)
    assert [type(layer).__name__ for layer in qat.layers] == ["QuantizeWrapper", "QuantizeWrapper", "Softmax"]
    distiller = distill(qat, teacher, temperature=2.0, alpha=0.5)
    distiller.compile(keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = distiller.fit(x, y, epochs=3, batch_size=32, verbose=0).history
    assert history["accuracy"][-1] > 0.85
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
    info = export_tflite(distiller.student, tmp_path / "student.tflite", quantization="int8")
    assert info["int8_ranges"] == "trained"
    report = verify_tflite(info["path"], x, y, keras_outputs=distiller.student.predict(x, verbose=0))
    assert report["agreement"] > 0.95 and report["accuracy"] > 0.8, report


def test_qat_student_with_a_fused_softmax_is_refused_with_the_fix():
    x, y = _data(64)
    student = keras.Sequential([keras.Input((12,)), keras.layers.Dense(3, activation="softmax", name="out")])
    teacher = keras.Sequential([keras.Input((12,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"'quantize_out' is quantization-aware with a softmax.*keras.layers.Softmax"):
        distill(quantize_model(student), teacher)
    distill(quantize_model(student), teacher, student_output="probabilities")  # declared: accepted
