"""Model problems are recipe problems (issue 19): a `.keras` output that does not fit the data is
found by `validate`, and what only building can find is exit 2 from `run`, with nothing written."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import yaml

from kerasopt.cli import main
from kerasopt.recipe.check.file_check import output_width
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError, format_path


def _dense_model(path, units: int, tail: str | None = None, functional: bool = False) -> str:
    """A 4 -> 8 -> `units` model, with an Activation or Dropout after its output layer."""
    layers = [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(units)]
    layers += {"softmax": [keras.layers.Activation("softmax")], "dropout": [keras.layers.Dropout(0.1)]}.get(tail, [])
    if functional:
        inputs = x = keras.Input((4,))
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([keras.Input((4,)), *layers])
    model.save(path)
    return str(path)


def _two_class_npz(folder) -> str:
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    path = folder / "two.npz"
    np.savez(path, x=x, y=(x[:, 0] > 0).astype(int))
    return str(path)


def _recipe(folder, data, model, name="recipe.yaml") -> str:
    path = folder / name
    path.write_text(yaml.safe_dump({
        "name": "model_problems", "data": {"test_split": 0.25, **data}, "model": model,
        "training": {"epochs": 1}, "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
        "export": {"keras": False}}))
    return str(path)


@pytest.mark.parametrize(("functional", "tail"), [(False, None), (False, "softmax"), (True, "dropout"),
                                                  (True, None)])
def test_output_width_is_read_from_the_file_without_keras(tmp_path, functional, tail):
    assert output_width(_dense_model(tmp_path / "m.keras", 3, tail, functional)) == 3


def test_output_width_is_unknown_for_several_outputs_and_for_files_that_are_no_model(tmp_path):
    inputs = keras.Input((4,))
    keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)]).save(tmp_path / "two.keras")
    (tmp_path / "empty.keras").write_bytes(b"")
    assert output_width(str(tmp_path / "two.keras")) is None
    assert output_width(str(tmp_path / "empty.keras")) is None


def test_a_model_file_whose_output_does_not_fit_the_data_fails_validate(tmp_path):
    """Issue 19: a 3-unit `.keras` model on 2-class data passed `validate` and exited 1 at start."""
    model = _dense_model(tmp_path / "three.keras", 3, "softmax")
    data = {"source": "npz", "path": _two_class_npz(tmp_path)}
    with pytest.raises(RecipeError) as info:
        load_recipe(_recipe(tmp_path, data, {"path": model}))
    (problem,) = info.value.problems
    assert format_path(problem.path) == "model.path" and problem.received == 3
    assert problem.allowed == "a model with 2 output units"
    assert "replace_head: true" in problem.message
    # The same file with a new head, and a model made for the data, are fine.
    load_recipe(_recipe(tmp_path, data, {"path": model, "replace_head": True}))
    load_recipe(_recipe(tmp_path, data, {"path": _dense_model(tmp_path / "two.keras", 2, "softmax")}))
    # A built-in source knows its classes: ten digits.
    with pytest.raises(RecipeError, match="data \\(10 classes\\) needs 10"):
        load_recipe(_recipe(tmp_path, {"source": "digits"}, {"path": model}))


def test_a_layer_list_that_only_building_rejects_is_exit_2_and_writes_nothing(tmp_path, capsys):
    """Issue 19: errors found while building the model from the recipe exited 1."""
    layers = [{"type": "Conv2D", "filters": 4, "kernel_size": 3},  # flat inputs: Keras refuses at build
              {"type": "Dense", "units": 2, "activation": "softmax"}]
    recipe = _recipe(tmp_path, {"source": "npz", "path": _two_class_npz(tmp_path)}, {"layers": layers})
    assert main(["validate", recipe]) == 0
    out = tmp_path / "run"
    assert main(["run", recipe, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.layers[0]: `model.layers[0]` (Conv2D) does not accept its input of shape (None, 4)" in err
    assert "Traceback" not in err
    assert not out.exists()
