"""Sweep objectives no run can produce are refused before any trial (exit 2, nothing written), and
a trial that fails cleanly is one line, not Optuna's traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")

from kerasopt.recipe.errors import RecipeError  # noqa: E402
from kerasopt.sweep.search_space import SearchSpace  # noqa: E402
from kerasopt.sweep.sweep import Sweep  # noqa: E402
from kerasopt.sweep.trial_objective import TrialFailed  # noqa: E402
from tests.tiny_recipe import TINY, write_tiny_recipe  # noqa: E402

PARAMS = {"model.units.0": "choice(2,4)"}


def _recipe(folder: Path, name: str, sweep: dict, **sections: dict) -> str:
    folder.mkdir()
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, **sections, "name": name, "sweep": {"params": PARAMS, **sweep}}))
    return str(path)


def _problem(stderr: str, source: str) -> list[str]:
    """The lines of the one problem reported for `source` (its header says `1 problem found`)."""
    lines = stderr.splitlines()
    start = lines.index(f"{source}: 1 problem found")
    block = [lines[start + 1]]
    for line in lines[start + 2:]:
        if not line.startswith("    "):
            break
        block.append(line)
    return block


def _line(path: str, text: str, nth: int = 0) -> str:
    """`line:column` of the `metric:` key of the `nth` value holding `text` in a YAML file."""
    found = [(n, line.index("metric:")) for n, line in enumerate(Path(path).read_text().splitlines(), 1)
             if re.search(r"metric: \S*" + re.escape(text), line)]
    return "{}:{}".format(found[nth][0], found[nth][1] + 1)


def test_validate_and_sweep_refuse_objectives_no_run_writes(tmp_path, kerasopt):
    unknown = _recipe(tmp_path / "a", "unknown", {"metric": "val_f1score", "direction": "maximize"},
                      training={"epochs": 1, "metrics": ["accuracy", {"type": "f1_score"}]})
    no_tflite = _recipe(tmp_path / "b", "no_tflite", {"objectives": [{"metric": "val_accuracy"},
                                                                     {"metric": "exports.tflite.bytes"}]})
    bogus = _recipe(tmp_path / "c", "bogus", {"objectives": [{"metric": "val_accuracy"},
                                                             {"metric": "exports.tflite.bogus_key"}]},
                    export={"keras": False, "tflite": {"quantization": "dynamic"}})
    twice = _recipe(tmp_path / "d", "twice", {"objectives": [{"metric": "val_accuracy", "direction": "maximize"},
                                                             {"metric": "val_accuracy", "direction": "maximize"}]})
    fine = _recipe(tmp_path / "e", "fine", {"objectives": [
        {"metric": "val_f1_score"}, {"metric": "test_loss"}, {"metric": "exports.tflite.speedup"},
        {"metric": "exports.tflite_float.latency_us"}, {"metric": "params"}]},
        training={"epochs": 1, "metrics": ["accuracy", {"type": "f1_score"}]},
        export={"keras": False, "tflite": {"quantization": "dynamic"}})

    validate = kerasopt("validate", unknown, no_tflite, bogus, twice, fine)
    assert validate.returncode == 2, validate.stderr
    assert "Traceback" not in validate.stderr and f"{fine}: ok (fine)" in validate.stdout
    assert _problem(validate.stderr, unknown) == [
        f"{unknown}:{_line(unknown, 'val_f1score')}: sweep.metric: no run of this recipe writes this metric to metrics.json (the loss "
        "and the compiled training.metrics, as val_<name> and test_<name>)",
        "    received: 'val_f1score'",
        "    allowed: val_<m> or test_<m> for m in loss, accuracy, f1_score; params",
        "    did you mean: val_f1_score, test_f1_score?"]
    assert _problem(validate.stderr, no_tflite)[:2] == [
        f"{no_tflite}:{_line(no_tflite, 'exports.tflite.bytes')}: sweep.objectives[1].metric: no run of this recipe writes exports.tflite: it "
        "needs export.tflite set (in the recipe, or an override such as export.tflite.quantization=int8)",
        "    received: 'exports.tflite.bytes'"]
    bogus_problem = _problem(validate.stderr, bogus)
    assert bogus_problem[:2] == [f"{bogus}:{_line(bogus, 'bogus_key')}: sweep.objectives[1].metric: exports.tflite has no number "
                                 "'bogus_key' in metrics.json", "    received: 'exports.tflite.bogus_key'"]
    assert bogus_problem[2].startswith("    allowed: exports.tflite.bytes, exports.tflite.gzip_bytes, ")
    assert "exports.tflite.speedup" in bogus_problem[2]  # dynamic quantization: a float baseline is timed
    assert _problem(validate.stderr, twice) == [
        f"{twice}:{_line(twice, 'val_accuracy', 1)}: sweep.objectives[1].metric: objective 0 already optimizes 'val_accuracy'; each "
        "objective must be a different metric", "    received: 'val_accuracy'",
        "    allowed: a metric no other objective names"]

    out = tmp_path / "sweep"  # `kerasopt sweep` stops at the same check, before writing anything
    for recipe, line in ((unknown, f"{unknown}:{_line(unknown, 'val_f1score')}: sweep.metric: "),
                         (bogus, f"{bogus}:{_line(bogus, 'bogus_key')}: sweep.objectives[1].metric: ")):
        sweep = kerasopt("sweep", recipe, "--trials", "1", "--output-dir", str(out))
        assert sweep.returncode == 2, sweep.stderr
        assert sweep.stdout == "" and "Traceback" not in sweep.stderr
        assert line in sweep.stderr
    assert not out.exists()


def test_python_api_and_metric_options_refuse_unknown_and_repeated_metrics(tmp_path):
    recipe = write_tiny_recipe(tmp_path)
    space = SearchSpace.parse(["model.units.0=choice(2,4)"])
    with pytest.raises(RecipeError) as info:
        Sweep(recipe, space, objectives=[("val_accuracy", "auto"), ("val_acuracy", "auto"),
                                         ("val_accuracy", "maximize")], output_dir=str(tmp_path / "sweep"))
    problems = info.value.problems
    assert [p.path for p in problems] == [("objectives", 1, "metric"), ("objectives", 2, "metric")]
    assert problems[0].suggestions == ["val_accuracy", "test_accuracy"]
    assert problems[1].message == "objective 0 already optimizes 'val_accuracy'; each objective must be a " \
                                  "different metric"
    with pytest.raises(RecipeError) as info:
        Sweep(recipe, space, metric="exports.keras.bytes")  # the tiny recipe sets export.keras: false
    assert [(p.path, p.received) for p in info.value.problems] == [(("metric",), "exports.keras.bytes")]
    assert "needs export.keras: true" in info.value.problems[0].message
    assert not (tmp_path / "sweep").exists()


def test_a_validation_objective_needs_a_validation_split(tmp_path):
    # Before, `val_loss` (the default metric) on a recipe without a validation split was accepted
    # and every trial failed after training, when its metrics.json had no evaluation.validation.
    space = SearchSpace.parse(["model.units.0=choice(2,4)"])
    recipe = write_tiny_recipe(tmp_path, data={"validation_split": 0})
    with pytest.raises(RecipeError) as info:
        Sweep(recipe, space, output_dir=str(tmp_path / "sweep"))
    (problem,) = info.value.problems
    assert (problem.path, problem.received) == (("metric",), "val_loss")
    assert problem.message == "no run of this recipe has a validation split to measure it on"
    assert problem.allowed == "data.validation_split > 0 (or the source's validation files), or the test " \
                              "split's test_loss"
    Sweep(recipe, space, metric="test_loss", output_dir=str(tmp_path / "sweep"))  # the test split is there
    with pytest.raises(RecipeError) as info:  # an unknown name lists only what the recipe writes
        Sweep(recipe, space, metric="val_acuracy", output_dir=str(tmp_path / "sweep"))
    assert info.value.problems[0].allowed.startswith("test_<m> for m in loss, accuracy; ")
    assert info.value.problems[0].suggestions == ["test_accuracy"]
    assert not (tmp_path / "sweep").exists()


def _fail(trial):
    raise TrialFailed("training diverged in stage 'train'")


@pytest.mark.parametrize("debug", [False, True])
def test_a_failed_trial_leaves_no_optuna_traceback_without_debug(tmp_path, caplog, debug):
    # The sweep's objective prints `trial N: failed: <reason>` itself and raises TrialFailed (a real
    # diverging trial takes ~5 s of training and ~15 s of start-up; `optimize` reports it the same way).
    sweep = Sweep(write_tiny_recipe(tmp_path), SearchSpace.parse(["model.units.0=choice(2,4)"]),
                  output_dir=str(tmp_path / "sweep"), debug=debug)
    study = sweep.open_study()
    with caplog.at_level("INFO", logger="optuna"):
        study.optimize(_fail, n_trials=2, catch=(TrialFailed,))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    records = [r for r in caplog.records if r.name.startswith("optuna")]
    if debug:  # `--debug`: Optuna's own report, traceback included
        assert [(r.getMessage().split(" because ")[0], r.exc_info is not None) for r in records] == [
            ("Trial 0 failed with parameters: {}", True), ("Trial 0 failed with value None.", False),
            ("Trial 1 failed with parameters: {}", True), ("Trial 1 failed with value None.", False)]
    else:
        assert records == []
    assert ("--debug" in sweep.command(worker=True)) is debug  # workers report as their parent asked
