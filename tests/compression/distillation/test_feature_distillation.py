"""FeatureDistillation and FeatureAdapter: adapters for different widths and sizes, the MSE, training."""

import keras
import numpy as np
import pytest

from kerasopt.compression.distillation import (
    Distiller,
    FeatureAdapter,
    FeatureDistillation,
    LogitsDistillation,
)


@pytest.mark.parametrize(("student", "teacher", "width", "size", "projection_type"), [
    ((None, 16), (None, 64), 64, None, keras.layers.Dense),
    ((None, 20, 8), (None, 20, 32), 32, None, keras.layers.Conv1D),
    ((None, 10, 8), (None, 20, 8), None, [20], None),
    ((None, 7, 7, 4), (None, 14, 14, 16), 16, [14, 14], keras.layers.Conv2D),
    ((None, 2, 2, 2, 4), (None, 2, 2, 2, 6), 6, None, keras.layers.Conv3D),
])
def test_adapter_projects_and_resizes_to_the_teacher_shape(student, teacher, width, size, projection_type):
    adapter = FeatureDistillation("s", "t").adapter_for(student, teacher)
    assert (adapter.width, adapter.size) == (width, size)
    out = adapter(np.ones((2, *student[1:]), "float32"))
    assert tuple(out.shape) == (2, *teacher[1:])
    if projection_type is None:
        assert adapter.projection is None and not adapter.weights
    else:
        assert isinstance(adapter.projection, projection_type)
        kernel = adapter.projection.kernel
        assert tuple(kernel.shape)[-2:] == (student[-1], teacher[-1]) and all(d == 1 for d in kernel.shape[:-2])


def test_equal_shapes_need_no_adapter_unless_always():
    assert FeatureDistillation("s", "t").adapter_for((None, 8), (None, 8)).width is None
    assert FeatureDistillation("s", "t", projection="always").adapter_for((None, 8), (None, 8)).width == 8


def test_resizing_a_constant_sequence_keeps_it_and_downsampling_averages():
    adapter = FeatureAdapter(size=[4])
    np.testing.assert_allclose(adapter(np.full((1, 8, 2), 3.0, "float32")), np.full((1, 4, 2), 3.0), rtol=1e-6)
    ramp = np.arange(8, dtype="float32").reshape(1, 8, 1)
    # Antialiased 2x downsampling of a ramp 0..7 averages neighbours: 0.5-ish, ..., 6.5-ish.
    out = np.asarray(adapter(ramp))[0, :, 0]
    assert np.all(np.diff(out) > 1.5) and out[0] < 1.0 and out[-1] > 6.0


@pytest.mark.parametrize(("student", "teacher", "projection", "match"), [
    ((None, 8), (None, 4, 8), "auto", "same rank"),
    ((None, 8), (None, 16), "never", "projection='never' needs equal widths"),
    ((None, None, 8), (None, 10, 8), "auto", "unknown until run time"),
    ((None, 2, 2, 2, 4), (None, 4, 4, 4, 4), "auto", "resizes sequences"),
])
def test_adapter_refuses_shapes_it_cannot_map(student, teacher, projection, match):
    with pytest.raises(ValueError, match=match):
        FeatureDistillation("s_layer", "t_layer", projection=projection).adapter_for(student, teacher)


def test_compute_loss_is_the_mean_squared_error():
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(3, 4, 5)).astype("float32"), rng.normal(size=(3, 4, 5)).astype("float32")
    np.testing.assert_allclose(float(FeatureDistillation("a", "b").compute_loss(t, s)),
                               np.mean((s.astype(np.float64) - t) ** 2), rtol=1e-5)


def _conv_models():
    teacher = keras.Sequential([keras.Input((16, 3)), keras.layers.Conv1D(24, 3, padding="same",
                                                                          activation="relu", name="t_conv"),
                                keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(4)], name="teacher")
    student = keras.Sequential([keras.Input((16, 3)), keras.layers.Conv1D(6, 3, strides=2, padding="same",
                                                                          activation="relu", name="s_conv"),
                                keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(4)], name="student")
    return student, teacher


def test_feature_loss_with_different_widths_and_lengths_trains_student_and_adapter():
    keras.utils.set_random_seed(3)
    student, teacher = _conv_models()
    # Logits too, so every student weight gets a gradient (no labels: alpha=1).
    distiller = Distiller(student, teacher, [FeatureDistillation("s_conv", "t_conv", weight=10.0),
                                             LogitsDistillation(2.0, weight=1e-3)], alpha=1.0)
    adapter = distiller.adapters[0]
    assert (adapter.width, adapter.size) == (24, [16])
    assert not any(w is v for w in adapter.weights for v in student.weights)  # not part of the student
    distiller.compile(keras.optimizers.Adam(0.01))
    x = np.random.default_rng(0).normal(size=(64, 16, 3)).astype("float32")
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    kernel_before = adapter.projection.kernel.numpy().copy()
    first = distiller.evaluate(x, verbose=0, return_dict=True)["distillation_loss"]
    distiller.fit(x, epochs=15, batch_size=16, verbose=0)
    last = distiller.evaluate(x, verbose=0, return_dict=True)["distillation_loss"]
    assert last < 0.5 * first, (first, last)
    assert not np.allclose(adapter.projection.kernel.numpy(), kernel_before)
    for before, after in zip(teacher_before, teacher.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())


def test_keras_own_feature_distillation_works_on_equal_shapes():
    student, teacher = _conv_models()
    same = keras.Sequential([keras.Input((16, 3)), keras.layers.Conv1D(24, 3, padding="same", name="s_conv"),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(4)])
    strategy = keras.distillation.FeatureDistillation(teacher_layer_name="t_conv", student_layer_name="s_conv")
    distiller = Distiller(same, teacher, [strategy], alpha=1.0)
    x = np.ones((2, 16, 3), "float32")
    expected = np.mean((same.get_layer("s_conv")(x) - teacher.get_layer("t_conv")(x)) ** 2)
    np.testing.assert_allclose(float(distiller.distillation_loss(x, distiller(x))), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="shapes must match; use kerasopt.s FeatureDistillation"):
        Distiller(student, teacher, [strategy])
