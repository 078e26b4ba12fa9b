"""The command line: exit codes, messages, and no TensorFlow import for the quick commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def kerasopt(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "kerasopt.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


@pytest.mark.parametrize("command", [
    ["--help"], ["show", "quickstart"], ["list"], ["schema"], ["list", "--components", "optimizer"],
    ["validate", "quickstart"]])
def test_quick_commands_never_import_tensorflow_or_keras(command):
    code = ("import sys; from kerasopt.cli import main\n"
            "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as e:\n    status = e.code\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr


def test_every_subcommand_help_ends_with_an_example():
    for command in ("run", "validate", "show", "list", "schema", "tensorboard", "lr-find"):
        result = kerasopt(command, "--help")
        assert result.returncode == 0
        last = result.stdout.strip().splitlines()
        assert last[-2] == "example:" and last[-1].strip().startswith("kerasopt "), command


def test_no_command_prints_help_and_exits_2():
    result = kerasopt()
    assert result.returncode == 2 and "usage: kerasopt" in result.stdout


def test_usage_error_exits_2():
    result = kerasopt("run")
    assert result.returncode == 2 and "required: RECIPE" in result.stderr


def test_show_prints_the_resolved_recipe():
    result = kerasopt("show", "quickstart", "training.epochs=2")
    assert result.returncode == 0
    assert "epochs: 2" in result.stdout and "optimizer:" in result.stdout


def test_schema_is_json():
    result = kerasopt("schema")
    assert json.loads(result.stdout)["title"] == "kerasopt recipe"


def test_list_shows_descriptions():
    result = kerasopt("list")
    assert "quickstart" in result.stdout and "digits" in result.stdout


def test_invalid_recipe_exits_2_lists_every_problem_and_writes_nothing(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: bad\ndata: {source: digits, batch_size: 0}\n"
                      "model: {architecture: mlp, unit: [3]}\ntraining: {optimizer: adamm}\n")
    out = tmp_path / "out"
    result = kerasopt("run", str(recipe), "--output-dir", str(out))
    assert result.returncode == 2
    assert "3 problems found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_validate_reports_each_file():
    result = kerasopt("validate", "quickstart", "no_such_recipe")
    assert result.returncode == 2
    assert "quickstart.yaml: ok" in result.stdout
    assert "no such recipe file" in result.stderr
