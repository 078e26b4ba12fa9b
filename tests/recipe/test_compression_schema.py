"""The `compression:` section validates the same way at the top level and inside a stage."""

from __future__ import annotations

import pytest

from kerasopt.recipe.errors import format_path
from kerasopt.recipe.format.stages import resolve_stages
from tests.recipe.conftest import MINIMAL


def _rendered(error) -> dict[str, str]:
    return {format_path(p.path): p.render() for p in error.problems}


def test_a_misspelled_technique_in_a_stage_is_an_error_with_a_suggestion(problems):
    error = problems(MINIMAL + "stages:\n  - name: prune\n    compression: {prunning: {}}\n")
    found = _rendered(error)
    assert "stages[0].compression.prunning" in found
    assert "did you mean: pruning, channel_pruning?" in found["stages[0].compression.prunning"]


def test_n_not_below_m_is_an_error(problems):
    error = problems(MINIMAL + "compression:\n  pruning: {structure: 'n:m', n: 4, m: 4}\n")
    (rendered,) = [v for k, v in _rendered(error).items() if k.startswith("compression.pruning")]
    assert "n must be < m" in rendered and "n=4, m=4" in rendered


def test_two_techniques_in_one_stage_are_refused_with_the_staged_alternative(problems):
    error = problems(MINIMAL + "compression: {pruning: true}\n"
                     "stages:\n  - name: both\n    compression: {qat: true}\n")
    text = "\n".join(_rendered(error).values())
    assert "one compression technique per stage" in text and "pruning and qat" in text


def test_stage_compression_merges_over_the_top_level_and_false_switches_off(write):
    from kerasopt.recipe.check.loader import load_recipe

    loaded = load_recipe(write(MINIMAL + """\
compression:
  pruning: {structure: 'n:m', n: 1, m: 4}
stages:
  - {name: prune}
  - name: qat
    compression: {pruning: false, qat: {ema_decay: 0.99}}
"""))
    prune, qat = resolve_stages(loaded.recipe, loaded.raw)
    assert prune.compression.active() == ["pruning"] and prune.compression.pruning.n == 1
    assert qat.compression.active() == ["qat"] and qat.compression.qat.ema_decay == 0.99
    assert qat.compression.qat.preserve_sparsity is True


def test_sparsity_outside_the_unit_interval_is_a_validation_error(problems):
    error = problems(MINIMAL + "compression:\n  pruning:\n    pruning_schedule: {type: polynomial_decay, "
                     "initial_sparsity: 0.0, final_sparsity: 1.0, begin_step: 0, end_step: 100}\n")
    found = _rendered(error)
    key = "compression.pruning.pruning_schedule.final_sparsity"
    assert key in found and "in [0, 1)" in found[key] and "received: 1.0" in found[key]


def test_a_pruning_schedule_end_may_be_a_duration(write):
    from kerasopt.recipe.check.loader import load_recipe

    loaded = load_recipe(write(MINIMAL + "compression:\n  pruning:\n    pruning_schedule: "
                               "{type: constant_sparsity, target_sparsity: 0.5, end_step: '0.5dur'}\n"))
    assert loaded.recipe.compression.pruning.pruning_schedule["end_step"] == "0.5dur"


def test_a_bad_field_inside_a_technique_is_one_message_without_the_boolean_arm(write, capsys):
    """`qat: QAT | bool`: pydantic also reports the bool arm ("input should be a valid boolean"),
    which said nothing about the mapping written; only the field's own message is printed."""
    from kerasopt.cli import main

    path = write(MINIMAL + "stages:\n  - name: q\n    compression: {qat: {ema_decay: 5}}\n")
    assert main(["validate", path]) == 2
    assert capsys.readouterr().err == (
        f"{path}: 1 problem found\n"
        f"{path}:6:25: stages[0].compression.qat.ema_decay: input should be less than 1\n"
        "    received: 5\n")
    path = write(MINIMAL + "compression:\n  clustering: {number_of_clusters: 1}\n")
    assert main(["validate", path]) == 2
    assert capsys.readouterr().err == (
        f"{path}: 1 problem found\n"
        f"{path}:5:16: compression.clustering.number_of_clusters: input should be greater than or equal to 2\n"
        "    received: 1\n")


@pytest.mark.parametrize("before", ["qat: true", "clustering: {number_of_clusters: 4}"])
def test_channel_pruning_after_qat_or_clustering_is_refused_before_anything_runs(write, tmp_path, capsys, before):
    """It stopped with exit 1 after the earlier stage had trained (the wrappers hide every channel)."""
    from kerasopt.cli import main

    technique = before.split(":")[0]
    path = write(MINIMAL + f"stages:\n  - name: first\n    compression: {{{before}}}\n"
                 "  - name: slim\n    compression: {channel_pruning: {ratio: 0.5}}\n"
                 "export: {tflite: {quantization: int8}}\n")
    assert main(["run", path, "--output-dir", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"{path}: 1 problem found\n"
        f"{path}:8:19: stages[1].compression.channel_pruning: stage 'slim' prunes channels after stage 'first' "
        f"ran {technique}, whose wrappers stay on the layers to the export, so no channel can be removed\n"
        "    received: {'ratio': 0.5}\n"
        "    allowed: channel_pruning in a stage before any qat or clustering stage (prune channels first, "
        "then cluster or quantize)\n")
    assert not (tmp_path / "out").exists()
    # Channels pruned first, then quantized: valid.
    path = write(MINIMAL + "stages:\n  - name: slim\n    compression: {channel_pruning: {ratio: 0.5}}\n"
                 f"  - name: first\n    compression: {{{before}}}\n"
                 "export: {tflite: {quantization: int8}}\n")
    assert main(["validate", path]) == 0
