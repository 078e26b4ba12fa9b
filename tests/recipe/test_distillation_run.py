"""Distillation through the runner: a teacher stage, a new student model taught by it, then QAT."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError
from kerasopt.recipe.run.runner import run
from tests.tiny_recipe import write_tiny_recipe

STUDENT = {"layers": [{"type": "Dense", "units": 4, "activation": "relu"},
                      {"type": "Dense", "units": 3}, {"type": "Softmax"}]}
DISTILL = {"teacher": {"stage": "teacher"}, "temperature": 2.0, "alpha": 0.7}


def _stages(**student_extra) -> list[dict]:
    return [{"name": "teacher", "epochs": 3},
            {"name": "student", "epochs": 3, "model": STUDENT,
             "compression": {"distillation": DISTILL}, **student_extra}]


@pytest.mark.slow
def test_student_is_trained_by_the_teacher_and_exported_alone(tmp_path):
    import keras

    stages = _stages()
    stages.append({"name": "qat", "epochs": 1, "compression": {"qat": True, "distillation": DISTILL}})
    # 162 training samples (240, less 25% test, less 10% validation) in 9 batches of 18: the
    # Keras loss tracker weighs batches by size, the distiller's Mean trackers do not, so
    # equal batches make the epoch means mix exactly like the batch losses.
    path = write_tiny_recipe(tmp_path, stages=stages, data={"batch_size": 18},
                             export={"keras": True, "tflite": {"quantization": "int8",
                                                               # chance-level models: the gate
                                                               # (student vs teacher) is not tested here
                                                               "max_accuracy_drop": 1.0}})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    history = metrics["stages"][1]["history"]
    assert {"distillation_loss", "label_loss"} <= set(history)
    # alpha mixes the two parts: total = 0.7 * distillation + 0.3 * labels, epoch by epoch.
    np.testing.assert_allclose(history["loss"], 0.7 * np.array(history["distillation_loss"])
                               + 0.3 * np.array(history["label_loss"]), rtol=1e-4)
    student = keras.saving.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    # The student alone: 6 -> 4 -> 3 (plus the normalizer, which holds no trainable weights).
    assert sum(int(np.prod(w.shape)) for w in student.trainable_weights) in (6 * 4 + 4 + 4 * 3 + 3,)
    assert metrics["exports"]["tflite"]["quantization"] == "int8"
    assert metrics["exports"]["tflite"]["agreement"] >= 0.9


def test_a_teacher_stage_that_comes_later_is_a_validation_error(tmp_path):
    stages = list(reversed(_stages()))
    with pytest.raises(RecipeError, match="teacher stage 'teacher', which comes later"):
        load_recipe(write_tiny_recipe(tmp_path, stages=stages))


def test_a_teacher_needs_exactly_one_source(tmp_path):
    stages = _stages()
    stages[1] = copy.deepcopy(stages[1])
    stages[1]["compression"]["distillation"]["teacher"] = {"stage": "teacher", "path": "t.keras"}
    with pytest.raises(RecipeError, match="exactly one of `stage`"):
        load_recipe(write_tiny_recipe(tmp_path, stages=stages))


def test_a_feature_layer_that_does_not_exist_stops_the_run_before_anything_is_written(tmp_path):
    from kerasopt.recipe.errors import format_path

    stages = _stages()
    stages[1] = copy.deepcopy(stages[1])
    stages[1]["compression"]["distillation"]["features"] = [{"student": "dense_x", "teacher": "dense"}]
    loaded = load_recipe(write_tiny_recipe(tmp_path, stages=stages))
    with pytest.raises(RecipeError) as info:
        run(loaded, output_dir=str(tmp_path / "out"))
    (problem,) = info.value.problems
    assert format_path(problem.path) == "stages[1].compression.distillation"
    assert "dense_x" in problem.message
    assert not (tmp_path / "out").exists()
