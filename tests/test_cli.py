"""The command line: exit codes, messages, and no TensorFlow import for the quick commands."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


def test_every_subcommand_help_ends_with_an_example(kerasopt):
    for command in ("run", "validate", "show", "list", "schema", "tensorboard", "lr-find"):
        result = kerasopt(command, "--help")
        assert result.returncode == 0
        last = result.stdout.strip().splitlines()
        assert last[-2] == "example:" and last[-1].strip().startswith("kerasopt "), command


def test_no_command_prints_help_and_exits_2(kerasopt):
    result = kerasopt()
    assert result.returncode == 2 and "usage: kerasopt" in result.stdout


def test_usage_error_exits_2(kerasopt):
    result = kerasopt("run")
    assert result.returncode == 2 and "required: RECIPE" in result.stderr


def test_show_prints_the_resolved_recipe(kerasopt):
    result = kerasopt("show", "quickstart", "training.epochs=2")
    assert result.returncode == 0
    assert "epochs: 2" in result.stdout and "optimizer:" in result.stdout


def test_schema_is_json(kerasopt):
    result = kerasopt("schema")
    assert json.loads(result.stdout)["title"] == "kerasopt recipe"


def test_list_shows_descriptions(kerasopt):
    result = kerasopt("list")
    assert "quickstart" in result.stdout and "digits" in result.stdout


def test_invalid_recipe_exits_2_lists_every_problem_and_writes_nothing(tmp_path, kerasopt):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: bad\ndata: {source: digits, batch_size: 0}\n"
                      "model: {architecture: mlp, unit: [3]}\ntraining: {optimizer: adamm}\n")
    out = tmp_path / "out"
    result = kerasopt("run", str(recipe), "--output-dir", str(out))
    assert result.returncode == 2
    assert "3 problems found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_validate_reports_each_file(kerasopt):
    result = kerasopt("validate", "quickstart", "no_such_recipe")
    assert result.returncode == 2
    assert "quickstart.yaml: ok" in result.stdout
    assert "no such recipe file" in result.stderr


def test_list_into_a_closed_pipe_ends_quietly():
    process = subprocess.Popen([sys.executable, "-m", "kerasopt.cli", "list"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line is written (`| head -0`)
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    process.stderr.close()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert process.returncode == 141


def test_show_accepts_every_name_list_prints(kerasopt):
    listed = [line.split()[0] for line in kerasopt("list").stdout.splitlines()[:-2] if line.strip()]
    assert "schedules/warmup_cosine" in listed
    result = kerasopt("show", "schedules/warmup_cosine")
    assert result.returncode == 0 and "name: warmup_cosine" in result.stdout


def test_validate_checks_every_file_even_broken_ones_quickly(tmp_path, kerasopt):
    from tests.recipe.test_yaml_source import BILLION_LAUGHS

    files = {
        "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        "latin1.yaml": "name: caf\u00e9\n".encode("latin-1"),
        "list_key.yaml": b"? [a, b]\n: 1\n",
        "null_key.yaml": b"~: 1\n",
        "deep.yaml": b"[" * 5000 + b"]" * 5000,
        "bomb.yaml": BILLION_LAUGHS.encode(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    started = time.perf_counter()
    kerasopt("validate", "quickstart")
    baseline = time.perf_counter() - started  # importing the schema, validating quickstart
    started = time.perf_counter()
    result = kerasopt("validate", *(str(tmp_path / n) for n in files), "quickstart")
    elapsed = time.perf_counter() - started - baseline
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for name in files:
        assert f"{name}: 1 problem found" in result.stderr, name
    assert "quickstart.yaml: ok" in result.stdout
    assert elapsed < 2.0  # all six broken files together, beyond the cost of starting


def test_overrides_may_follow_options(monkeypatch):
    from kerasopt import cli

    seen = {}
    monkeypatch.setattr(cli, "_guarded", lambda args, action, *claim: seen.setdefault("args", args) and 0)
    cli.main(["run", "quickstart", "--output-dir", "/tmp/x", "training.epochs=3", "--resume"])
    args = seen["args"]
    assert args.overrides == ["training.epochs=3"] and args.output_dir == "/tmp/x" and args.resume


class _Loaded:
    def __init__(self, verbose: int) -> None:
        self.recipe = type("R", (), {"runtime": type("T", (), {"verbose": verbose})()})()


@pytest.mark.parametrize(("verbose", "terminal", "added"), [(1, False, True), (1, True, False),
                                                             (0, False, False), (2, False, False)])
def test_progress_bar_becomes_one_line_per_epoch_off_a_terminal(monkeypatch, verbose, terminal, added):
    from kerasopt.recipe.check.loader import progress_overrides

    stream = type("S", (), {"isatty": lambda self: terminal})()
    overrides = progress_overrides(_Loaded(verbose), ["training.epochs=2"], stream)
    assert overrides == ["training.epochs=2", *(["runtime.verbose=2"] if added else [])]


def test_failure_while_running_is_one_message(monkeypatch, capsys):
    from kerasopt import cli, tf_startup

    monkeypatch.setattr(tf_startup, "start_tensorflow_quietly", lambda show: "")
    graph_error = ("Graph execution error:\n\nDetected at node sub defined at (most recent call last):\n"
                   '  File "trainer.py", line 105, in test_step\n\n'
                   "Incompatible shapes: [4] vs. [4,2]\n\t [[{{node sub}}]] [Op:__inference_step_485]")
    failure = type("InvalidArgumentError", (Exception,), {})

    def action(loaded):
        raise failure(graph_error)

    args = argparse.Namespace(recipe="quickstart", overrides=[], debug=False)
    assert cli._guarded(args, action) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["kerasopt: error: InvalidArgumentError: Incompatible shapes: [4] vs. [4,2]",
                   "(run again with --debug to see the traceback)"]


NOISE = ("absl::InitializeLog", "oneDNN", "cuda drivers", "cuInit", "cpu_feature_guard", "I0000", "E0000",
         "W0000")


@pytest.mark.slow
def test_run_output_is_plain_and_free_of_tensorflow_start_up_noise(tmp_path):
    from tests.tiny_recipe import write_tiny_recipe

    recipe = write_tiny_recipe(tmp_path, runtime={"verbose": 1, "tensorboard": {"enabled": False}})
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", recipe, "--output-dir",
                             str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert not [line for line in result.stderr.splitlines() if any(n in line for n in NOISE)], result.stderr
    assert "\x1b[" not in result.stdout and "\r" not in result.stdout and "\b" not in result.stdout
    epochs = [line for line in result.stdout.splitlines() if line.startswith("11/11 - ")]
    assert len(epochs) == 2  # one plain line per epoch
    assert "verbose: 2" in (tmp_path / "out" / "recipe.yaml").read_text()
