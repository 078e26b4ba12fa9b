"""A catalogue of bad recipes: each one must produce precise messages, all at once."""

from __future__ import annotations

import pytest

from kerasopt.recipe.errors import format_path
from tests.recipe.conftest import MINIMAL


def _by_path(error) -> dict[str, object]:
    return {format_path(p.path): p for p in error.problems}


CATALOGUE = [
    # (recipe text, key path, fragments that must appear in that problem's rendering)
    pytest.param(MINIMAL + "training: {epochs: ten}\n", "training.epochs",
                 ["expected a whole number", "received: 'ten'", "recipe.yaml:4:"], id="wrong-type"),
    pytest.param(MINIMAL + "training: {epochs: 0}\n", "training.epochs",
                 ["greater than or equal to 1", "received: 0"], id="out-of-range"),
    pytest.param(MINIMAL + "trainin: {epochs: 3}\n", "trainin",
                 ["unknown key in the recipe", "did you mean: training?", "allowed: name, description"],
                 id="misspelled-section"),
    pytest.param(MINIMAL + "training: {epohcs: 3}\n", "training.epohcs",
                 ["unknown key in `training`", "did you mean: epochs?"], id="misspelled-key"),
    pytest.param(MINIMAL + "runtime: {device: gpu2}\n", "runtime.device",
                 ["not an allowed value", "allowed: auto, cpu, gpu, tpu", "did you mean: gpu?"],
                 id="bad-enum"),
    # Yes/no keys take YAML's true/false only: lax parsing read the quoted 'no' below as False
    # and 'yes' as True, and 1/0 as True/False, with no message.
    pytest.param(MINIMAL + "export: {onnx: 'yes'}\n", "export.onnx",
                 ["not an allowed value", "received: 'yes'", "allowed: true, false"], id="quoted-yes"),
    pytest.param(MINIMAL + "runtime: {deterministic: 'no'}\n", "runtime.deterministic",
                 ["received: 'no'", "allowed: true, false"], id="quoted-no"),
    pytest.param(MINIMAL + "export: {keras: 0}\n", "export.keras",
                 ["received: 0", "allowed: true, false"], id="number-as-flag"),
    pytest.param(MINIMAL + "training: {jit_compile: 'on'}\n", "training.jit_compile",
                 ["received: 'on'", "allowed: true, false, auto"], id="flag-or-literal"),
    pytest.param(MINIMAL + "training:\n  optimizer: {type: adamm}\n", "training.optimizer",
                 ["unknown optimizer 'adamm'", "did you mean: Adam"], id="misspelled-component"),
    pytest.param(MINIMAL + "training:\n  optimizer: {type: sgd, momentun: 0.9}\n",
                 "training.optimizer.momentun",
                 ["unknown argument of optimizer 'SGD'", "did you mean: momentum", "received: 0.9"],
                 id="misspelled-component-argument"),
    pytest.param(MINIMAL + "training:\n  optimizer: {type: adam, beta_1: high}\n",
                 "training.optimizer.beta_1", ["expected a number", "received: 'high'"],
                 id="component-argument-type"),
    pytest.param(MINIMAL + "training:\n  callbacks:\n    - {type: early_stopping, patiense: 2}\n",
                 "training.callbacks[0].patiense", ["did you mean: patience?"],
                 id="callback-argument"),
    pytest.param("name: tiny\ndata: {source: digitz}\nmodel: {architecture: mlp}\n", "data.source",
                 ["unknown or missing `source`", "did you mean: digits?", "allowed: csv, digits, image_folder"],
                 id="bad-data-source"),
    pytest.param("name: tiny\ndata: {source: digits}\nmodel: {architecture: resnett}\n",
                 "model.architecture", ["did you mean: resnet, resnet1d?"], id="bad-architecture"),
    pytest.param("name: tiny\nmodel: {architecture: mlp}\n", "data",
                 ["required key is missing", "source: mnist1d"], id="missing-section"),
    pytest.param("name: tiny\ndata: {source: digits}\nmodel:\n  layers:\n    - {type: Dense}\n",
                 "model.layers[0].units", ["missing required argument of layer 'Dense'"],
                 id="missing-layer-argument"),
    pytest.param("name: tiny\ndata: {source: digits}\nmodel:\n  layers:\n    - {type: Dense, unit: 3}\n",
                 "model.layers[0].unit", ["did you mean: units?"], id="misspelled-layer-argument"),
    pytest.param(MINIMAL + "training:\n  optimizer: {tye: adam}\n", "training.optimizer.tye",
                 ["a component needs a `type` key", "received: 'adam'", "did you mean: type?"],
                 id="misspelled-type-key"),  # issue 19: no did-you-mean before
    pytest.param("name: t\ndata: {source: digits}\nmodel:\n  layers:\n"
                 "    - {type: Dense, units: 16, activation: 5}\n", "model.layers[0].activation",
                 ["expected an activation name", "received: 5", "a mapping with `type`, or null"],
                 id="layer-argument-of-wrong-kind"),  # issue 19: passed validate, exit 1 at build
    pytest.param("name: t\ndata: {source: digits}\nmodel:\n  layers:\n"
                 "    - {type: Dense, units: 10, kernel_initializer: 0.5}\n", "model.layers[0].kernel_initializer",
                 ["expected an initializer name", "received: 0.5"], id="layer-initializer-number"),
    pytest.param(MINIMAL + "training: {epochs: 3, steps: 100}\n", "training",
                 ["either `epochs` or `steps`"], id="cross-field"),
    pytest.param(MINIMAL + "data2: 1\n", "data2", ["did you mean: data?"], id="unknown-top-level"),
    pytest.param(MINIMAL + "stages:\n  - {name: a, training: {epoch: 2}}\n",
                 "stages[0].training.epoch", ["unknown key in `stages.training`", "did you mean: epochs?"],
                 id="stage-training-key"),
    pytest.param(MINIMAL + "stages:\n  - {name: a, training: {optimizer: {type: lion, lr: 1}}}\n",
                 "stages[0].training.optimizer.lr", ["unknown argument of optimizer 'Lion'"],
                 id="stage-component"),
    pytest.param(MINIMAL + "stages:\n  - {name: a}\n  - {name: a}\n", "<recipe>",
                 ["stage names must be unique; repeated: a"], id="duplicate-stage"),
    pytest.param(MINIMAL.replace("units: [8]", "units: [8], kernel_initializer: he_normall"),
                 "model.kernel_initializer", ["unknown initializer 'he_normall'", "did you mean"],
                 id="initializer-name"),
    pytest.param("name: t\ndata: {source: digits, batch_size_search: {start: 4}}\nmodel: {architecture: mlp}\n",
                 "data", ["applies only with `batch_size: auto`"], id="search-without-auto"),
    pytest.param("name: t\ndata: {source: digits, batch_size: auto, batch_size_search: {scale_lr: linear}}\n"
                 "model: {architecture: mlp}\n", "data.batch_size_search",
                 ["needs `base_batch_size`"], id="scaling-without-base"),
    pytest.param(MINIMAL + "data: {source: digits}\n", "data",
                 ["duplicate key (first written at line 2)"], id="duplicate-key"),
    pytest.param("name: t\ndata: {source: digits}\nmodel: {path: no/such/model.keras}\n", "model.path",
                 ["file does not exist", "received: 'no/such/model.keras'", "existing .keras file"],
                 id="missing-model-file"),
    pytest.param("name: t\ndata: {source: digits}\nmodel: {architecture: file, path: weights.h5}\n",
                 "model.path", ["must be a .keras file", "received: 'weights.h5'"], id="model-file-suffix"),
    pytest.param(MINIMAL + "stages:\n  - name: s\n    model: {path: gone.keras}\n"
                 "    compression: {distillation: {teacher: {path: teacher.keras}}}\n",
                 "stages[0].compression.distillation.teacher.path", ["file does not exist"],
                 id="missing-teacher-file"),
]


@pytest.mark.parametrize(("text", "path", "fragments"), CATALOGUE)
def test_each_bad_recipe_gets_a_precise_message(problems, text, path, fragments):
    error = problems(text)
    found = _by_path(error)
    assert path in found, f"no problem at {path}; got {sorted(found)}"
    rendered = found[path].render()
    for fragment in fragments:
        assert fragment in rendered, f"{fragment!r} not in:\n{rendered}"


def test_three_mistakes_give_three_messages_in_file_order(problems):
    error = problems("""\
        name: three
        data:
          source: mnist1d
          batch_size: -5
        model:
          architecture: cnn
          poolin: max
        training:
          optimizer: {type: rmsprop, rho: fast}
        """)
    assert [format_path(p.path) for p in error.problems] == [
        "data.batch_size", "model.poolin", "training.optimizer.rho"]
    assert [p.location.line for p in error.problems] == [4, 7, 9]
    assert error.render().splitlines()[0].endswith("3 problems found")


def test_yaml_syntax_error_names_line_and_column(problems):
    error = problems("name: x\ndata: {source: digits\nmodel: {}\n")
    (problem,) = error.problems
    assert "YAML syntax error: a `{` mapping that starts here is not closed" in problem.message
    assert problem.location.line == 2  # where the `{` opens, not where YAML gave up


def test_recipe_must_be_a_mapping(problems):
    error = problems("- just\n- a list\n")
    assert "must be a mapping" in error.problems[0].message


def test_bad_override_key_is_reported_with_its_origin(problems):
    error = problems(MINIMAL, ("training.epocs=3", "model.units=[4]", "nonsense"))
    found = _by_path(error)
    assert "did you mean: epochs" in found["training.epocs"].render()
    assert "override 'training.epocs=3'" in found["training.epocs"].render()
    assert "expected KEY=VALUE" in found["<recipe>"].message


def test_override_value_is_type_checked(problems):
    error = problems(MINIMAL, ("training.epochs=many",))
    assert "expected a whole number" in _by_path(error)["training.epochs"].render()


def test_override_into_list_index_out_of_range(problems):
    error = problems(MINIMAL + "training:\n  callbacks: [{type: early_stopping}]\n",
                     ("training.callbacks[3].patience=2",))
    assert "list index out of range (the list has 1 items)" in error.render()


def test_lsuv_arguments_are_checked(problems):
    error = problems("name: t\ndata: {source: digits}\nmodel:\n  layers:\n"
                     "    - {type: Dense, units: 3, kernel_initializer: {type: lsuv, tol: 0.1}}\n")
    assert "did you mean: tol_var" in error.render()


ADAM = MINIMAL + "training:\n  optimizer: {type: adam, learning_rate: %s}\n"
WARMUP = MINIMAL + "training:\n  optimizer:\n    type: adam\n    learning_rate: {type: warmup, schedule: 0.1, warmup_steps: %s}\n"
VALUES = [
    # Component arguments: checked at validation time, not when Keras builds them.
    pytest.param(ADAM % "null", "training.optimizer.learning_rate",
                 ["null is not allowed here", "a number >= 0", "default, 0.001"], id="lr-null"),
    pytest.param(ADAM % "-0.1", "training.optimizer.learning_rate",
                 ["out of range", "received: -0.1", "allowed: a number >= 0"], id="lr-negative"),
    pytest.param(ADAM % ".nan", "training.optimizer.learning_rate", ["must be a finite number"], id="lr-nan"),
    pytest.param(ADAM % ".inf", "training.optimizer.learning_rate", ["must be a finite number"], id="lr-inf"),
    pytest.param(ADAM % "0.1, beta_1: 1.0", "training.optimizer.beta_1",
                 ["out of range", "a number in [0, 1)"], id="beta-1"),
    pytest.param(MINIMAL + "training:\n  optimizer: {type: sgd, momentum: 1.5}\n", "training.optimizer.momentum",
                 ["out of range", "[0, 1]"], id="momentum"),
    pytest.param(MINIMAL + "training:\n  optimizer: {type: sgd, clipnorm: 0}\n", "training.optimizer.clipnorm",
                 ["out of range", "a number > 0 (or null)"], id="clipnorm"),
    pytest.param(WARMUP % "'2xx'", "training.optimizer.learning_rate.warmup_steps",
                 ["expected a whole number", "received: '2xx'", "'8ep'"], id="warmup-steps-text"),
    pytest.param(WARMUP % "2.5", "training.optimizer.learning_rate.warmup_steps",
                 ["expected a whole number"], id="warmup-steps-fraction"),
    pytest.param(MINIMAL.replace("units: [8]", "units: [8], kernel_initializer: {type: he_normal, seed: 4294967296}"),
                 "model.kernel_initializer.seed", ["out of range", "[0, 4294967295]"], id="seed-too-big"),
    pytest.param("name: t\ndata: {source: digits}\nmodel:\n  layers:\n    - {type: Dense, units: ten}\n",
                 "model.layers[0].units", ["expected a whole number", "received: 'ten'"], id="layer-units-text"),
    pytest.param("name: t\ndata: {source: digits}\nmodel:\n  layers:\n    - {type: Dense, units: null}\n",
                 "model.layers[0].units", ["null is not allowed here"], id="layer-units-null"),
    pytest.param("name: t\ndata: {source: digits}\nmodel:\n  layers:\n    - {type: Dropout, rate: 1.5}\n",
                 "model.layers[0].rate", ["out of range"], id="dropout-rate"),
    pytest.param(MINIMAL + "training:\n  callbacks:\n    - {type: keras.EarlyStopping, patience: 2.5}\n",
                 "training.callbacks[0].patience", ["expected a whole number"], id="patience-fraction"),
    pytest.param(MINIMAL + "training:\n  callbacks:\n    - {type: keras.EarlyStopping, baseline: .inf}\n",
                 "training.callbacks[0].baseline", ["must be a finite number"], id="non-finite-anywhere"),
    pytest.param(MINIMAL + "training:\n  optimizer: {type: sgd, nesterov: null}\n", "training.optimizer.nesterov",
                 ["null is not allowed here", "true or false"], id="bool-null"),
    # Recipe fields.
    pytest.param(MINIMAL.replace("units: [8]", "units: ten"), "model.units", ["valid list"], id="model-units"),
    pytest.param(MINIMAL.replace("units: [8]", "activation: 5"), "model.activation",
                 ["expected a component name"], id="model-activation-number"),
    pytest.param(MINIMAL.replace("units: [8]", "l2: .inf"), "model.l2", ["finite number"], id="model-l2-inf"),
    pytest.param(MINIMAL + "training: {epochs: 1e29}\n", "training.epochs",
                 ["less than or equal to 1000000000", "received: 1e+29"], id="epochs-huge"),
    pytest.param(MINIMAL + "training: {steps: 100000000000}\n", "training.steps",
                 ["less than or equal to 1000000000"], id="steps-huge"),
    pytest.param(MINIMAL + "training: {epochs: 2.5}\n", "training.epochs", ["expected a whole number"],
                 id="epochs-fraction"),
    pytest.param("name: t\ndata: {source: digits, validation_split: .nan}\nmodel: {architecture: mlp}\n",
                 "data.validation_split", ["finite number"], id="data-nan"),
    # Misspelled keys that name the section's kind.
    pytest.param("name: t\ndata: {sorce: digits}\nmodel: {architecture: mlp}\n", "data.sorce",
                 ["unknown key; `source` is missing", "did you mean: source?", "recipe.yaml:2:8",
                  "naming one of: csv, digits"], id="source-typo"),
    pytest.param("name: t\ndata: {source: digits}\nmodel: {architecure: mlp}\n", "model.architecure",
                 ["unknown key; `architecture` is missing", "did you mean: architecture?"], id="architecture-typo"),
    pytest.param("name: t\ndata: {batch_size: 4}\nmodel: {architecture: mlp}\n", "data.source",
                 ["required key is missing", "allowed: csv, digits"], id="source-missing"),
]


@pytest.mark.parametrize(("text", "path", "fragments"), VALUES)
def test_values_are_checked_before_anything_runs(problems, text, path, fragments):
    found = _by_path(problems(text))
    assert path in found, f"no problem at {path}; got {sorted(found)}"
    rendered = found[path].render()
    for fragment in fragments:
        assert fragment in rendered, f"{fragment!r} not in:\n{rendered}"


@pytest.mark.parametrize("extra", [
    "training:\n  optimizer: {type: adam, learning_rate: 0.0, clipnorm: null, weight_decay: null}\n",
    "training:\n  optimizer: {type: adam, learning_rate: {type: warmup, schedule: 0.1, warmup_steps: 2ep}}\n",
    "training:\n  callbacks: [{type: keras.EarlyStopping, patience: 0, baseline: null}]\n",
    "model: {architecture: layers, layers: [{type: Dense, units: 3, activation: null, kernel_initializer: null}]}\n",
])
def test_values_keras_accepts_stay_accepted(write, extra):
    from kerasopt.recipe.check.loader import load_recipe

    text = MINIMAL + extra if extra.startswith("training") else MINIMAL.split("model:")[0] + extra
    load_recipe(write(text))
