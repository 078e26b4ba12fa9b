"""The technique studies: recipes/studies/ validates, its grids parse, and the study runner's tables."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys
from pathlib import Path

import pytest

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.format.schema_sweep import read_sweep_section
from kerasopt.sweep.search_space import SearchSpace
from kerasopt.sweep.sweep import Sweep

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "recipes" / "studies"
STUDY_RECIPES = sorted(STUDIES.rglob("*.yaml"))
SWEEP_RECIPES = [p for p in STUDY_RECIPES if read_sweep_section(p) is not None]


def _load_runner():
    spec = importlib.util.spec_from_file_location("technique_studies",
                                                  REPO / "benchmarks" / "technique_studies.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["technique_studies"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


pytestmark = pytest.mark.usefixtures("transfer_source_model")


def test_studies_are_found():
    assert len(STUDY_RECIPES) > 30
    assert len(SWEEP_RECIPES) == 6


def test_every_study_recipe_validates_on_the_command_line(capsys):
    code = main(["validate", *map(str, STUDY_RECIPES)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.count(": ok") == len(STUDY_RECIPES)


def _grid_labels(path: Path) -> list[str]:
    grid = SearchSpace.parse([f"{k}={v}" for k, v in read_sweep_section(path).params.items()],
                             source="sweep.params").grid()
    return [runner.variant_label(dict(zip(grid, point, strict=True)))
            for point in itertools.product(*grid.values())]


@pytest.mark.parametrize("path", SWEEP_RECIPES, ids=lambda p: p.stem)
def test_sweep_grid_parses_and_every_point_is_a_valid_recipe(path, tmp_path):
    section = read_sweep_section(path)
    assert section.sampler == "grid"
    space = SearchSpace.parse([f"{k}={v}" for k, v in section.params.items()], source="sweep.params")
    sweep = Sweep(str(path), space, sampler="grid", metric=section.metric, output_dir=str(tmp_path))
    assert sweep.grid_size == math.prod(len(v) for v in space.grid().values())
    assert sweep.trials == sweep.grid_size


def test_gradient_descent_grid_is_batch_stochastic_and_mini_batch_with_momentum():
    assert _grid_labels(STUDIES / "gradient_descent.yaml") == [
        "batch_size=full momentum=0.0", "batch_size=full momentum=0.9", "batch_size=1 momentum=0.0",
        "batch_size=1 momentum=0.9", "batch_size=32 momentum=0.0", "batch_size=32 momentum=0.9"]


@pytest.mark.parametrize("study", runner.STUDIES, ids=lambda s: s.name)
def test_study_table_matches_the_recipes(study):
    """Every variant the runner lists exists, every recipe is run, every claim names variants."""
    if study.name == "compression":
        names = [row["variant"] for row in runner.reused_compression_rows()]
    elif study.variants:
        folder = STUDIES / study.path
        names = list(study.variants)
        assert sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_")) == sorted(names)
    else:
        names = _grid_labels(STUDIES / study.path)
    assert study.reference in names
    for claim, better, worse, _margin in study.claims:
        assert set(better) | set(worse) <= set(names), claim


def test_transfer_scratch_trains_on_the_target_task_of_the_transfer_variants():
    scratch = load_recipe(str(STUDIES / "transfer_learning" / "scratch.yaml")).raw
    target = load_recipe(str(STUDIES / "transfer_learning" / "_target.yaml")).raw
    assert scratch["data"] == target["data"] and scratch["training"] == target["training"]
    source = load_recipe(str(STUDIES / "transfer_learning" / "source.yaml")).raw
    assert scratch["model"] == source["model"]
    assert target["model"]["path"].endswith("technique_studies/transfer_learning/source/model.keras")


def test_noise_band_is_two_standard_errors_of_a_difference():
    # 0.9 and 0.8 on 400 examples: sqrt(0.09/400 + 0.16/400) = 0.025, times two.
    assert runner.noise_band(0.9, 0.8, 400) == pytest.approx(0.05)


def _fake_result(study_name: str, rows: list[dict]) -> dict:
    study = next(s for s in runner.STUDIES if s.name == study_name)
    return {"study": study.name, "technique": study.technique, "recipe": f"recipes/studies/{study.path}",
            "reference": study.reference, "test_examples": study.test_n, "overrides": [], "seconds": 1.0,
            "variants": rows, "claims": runner.check_claims(study, rows), "notes": study.notes}


def _row(variant, accuracy, steps=100, seconds=10.0, **extra):
    return {"variant": variant, "test_accuracy": accuracy, "test_loss": 0.5, "train_steps": steps,
            "fit_seconds": seconds, "wall_seconds": seconds + 1, **extra}


def test_claims_hold_fail_or_fall_within_noise():
    rows = [_row("kernel_initializer=random_normal", 0.10), _row("kernel_initializer=glorot_uniform", 0.90),
            _row("kernel_initializer=he_normal", 0.91), _row("kernel_initializer=lsuv", 0.05)]
    claims = {c["claim"]: c for c in _fake_result("initializers", rows)["claims"]}
    he = claims["He beats random normal on a 20-layer ReLU net"]
    assert he["verdict"] == "holds" and he["difference"] == pytest.approx(0.81)
    assert claims["LSUV beats random normal"]["verdict"] == "does not hold"
    # 0.91 vs 0.90 on 360 examples: a band of 2 * sqrt((0.0819 + 0.09) / 360) = 0.0437.
    glorot = claims["He beats Glorot on ReLU"]
    assert glorot["verdict"] == "within noise" and glorot["noise_band"] == pytest.approx(0.04371, abs=1e-5)


def test_a_tolerance_claim_holds_within_its_margin():
    rows = [_row("quantization=none", 0.950), _row("quantization=int8", 0.942)]
    claim = _fake_result("quantization", rows)["claims"][0]
    assert claim["verdict"] == "holds" and claim["difference"] == pytest.approx(-0.008)
    rows[1]["test_accuracy"] = 0.930
    assert _fake_result("quantization", rows)["claims"][0]["verdict"] == "does not hold"


def test_results_are_written_as_json_and_a_markdown_table(tmp_path):
    early = _fake_result("early_stopping", [
        _row("full_last", 0.950, steps=4000, seconds=20.0), _row("full_best", 0.970, steps=4000, seconds=20.0),
        _row("patience_5", 0.965, steps=1000, seconds=5.0), _row("patience_15", None, steps=2000)])
    quant = _fake_result("quantization", [
        _row("quantization=none", 0.95, tflite_gzip_bytes=40_000),
        _row("quantization=int8", 0.94, tflite_gzip_bytes=10_000)])
    json_path, md_path = tmp_path / "r.json", tmp_path / "r.md"
    runner.write_results([quant], json_path, md_path)
    runner.write_results([early], json_path, md_path)  # merged, in the runner's study order
    stored = json.loads(json_path.read_text())["studies"]
    assert [s["study"] for s in stored] == ["early_stopping", "quantization"]
    assert stored[0]["variants"][2]["train_steps"] == 1000
    table = md_path.read_text().splitlines()
    assert ("| early_stopping | patience_5 | 0.965 | 0.500 | 1000 | 5.0 | 6.0 |  | "
            "+1.5 points vs full_last; 0.25x the steps; 0.25x the fit time |") in table
    assert "| early_stopping | full_last | 0.950 | 0.500 | 4000 | 20.0 | 21.0 |  | reference |" in table
    assert any(line.startswith("| early_stopping | full_best |") and "best of the study" in line
               for line in table)
    assert any("patience_15 |  |" in line and "diverged" in line for line in table)
    assert any(line.startswith("| quantization | quantization=int8 | 0.940") and "| 10.0 |" in line
               and "4.0x smaller TFLite (gzip)" in line for line in table)
    assert any(line.startswith("- the best epoch beats the last epoch: **within noise**") for line in table)


def test_compression_rows_are_read_from_the_stored_benchmarks():
    rows = {r["variant"]: r for r in runner.reused_compression_rows()}
    stored = json.loads((REPO / "benchmarks" / "results" / "compression_vs_tfmot.json").read_text())
    assert rows["prune 85% + QAT (int8)"]["test_accuracy"] == stored["kerasopt"]["int8_accuracy"]
    assert rows["float"]["tflite_gzip_bytes"] == stored["kerasopt"]["float_gzip"]
    assert all(r["reused"] for r in rows.values())


@pytest.mark.slow
def test_tiny_folder_and_sweep_studies_run_end_to_end(tmp_path, monkeypatch):
    folder = runner.Study("early_stopping", "early stopping", "early_stopping", "full_last", 360,
                          ("full_last", "patience_5"),
                          claims=(runner._c("x", "patience_5", "full_last"),))
    result = runner.run_study(folder, tmp_path / "runs", ["training.epochs=2", "data.limit=200"])
    assert [r["variant"] for r in result["variants"]] == ["full_last", "patience_5"]
    # limit 200, then a validation fifth: 160 training examples, 5 batches of 32 per epoch.
    assert all(r["train_steps"] == 2 * math.ceil(160 / 32) for r in result["variants"])
    assert 0.0 <= result["variants"][0]["test_accuracy"] <= 1.0
    assert (tmp_path / "runs" / "early_stopping" / "report.md").exists()
    (tmp_path / "sweep.yaml").write_text(
        "name: tiny\ndescription: tiny\nseed: 0\ndata: {source: digits, test_split: 0.2, limit: 100}\n"
        "model: {architecture: mlp, units: [8]}\ntraining: {epochs: 1}\nexport: {keras: false}\n"
        "sweep: {params: {data.normalization: 'choice(none, standardize)'}, sampler: grid}\n")
    monkeypatch.setattr(runner, "STUDIES_DIR", tmp_path)
    grid = runner.Study("tiny", "tiny", "sweep.yaml", "normalization=none", 360)
    result = runner.run_study(grid, tmp_path / "runs")
    assert [r["variant"] for r in result["variants"]] == ["normalization=none", "normalization=standardize"]
    assert (tmp_path / "runs" / "tiny" / "report.html").exists()
