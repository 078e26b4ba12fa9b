"""`kerasopt run` end to end through the command line, on tiny settings.

The runs share one child process (`CliProcess`); commands that stop before TensorFlow
starts run in this one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kerasopt.cli import main
from kerasopt.recipe.store.run_manifest import MANIFEST_NAME, is_run_name
from tests.subprocesses import CliProcess

TINY = """\
name: tiny
seed: 0
data: {source: synthetic, samples: 240, input_shape: [6], num_classes: 3, test_split: 0.25,
       batch_size: 30, normalization: standardize}
model: {architecture: mlp, units: [8]}
training:
  epochs: 3
  optimizer: {type: sgd, learning_rate: 0.1}
runtime: {deterministic: true, verbose: 0}
export: {keras: true}
"""


@pytest.fixture(scope="module")
def kerasopt():
    """`kerasopt ARGS` (as `subprocess.run` would report it), all in one child process.

    oneDNN off: the golden loss values below are then the same on every x86 CPU.
    """
    child = CliProcess(env={"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"})
    yield child
    child.close()


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory, kerasopt) -> Path:
    out = tmp_path_factory.mktemp("quickstart")
    result = kerasopt("run", "quickstart", "training.epochs=2", "runtime.verbose=0",
                      "runtime.tensorboard.update_freq=5", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_run_directory_has_every_contracted_file(quickstart_run):
    names = {p.name for p in quickstart_run.iterdir()}
    assert {"recipe.yaml", "metrics.json", "model.keras", "logs", "checkpoints", "model.tflite"} <= names
    assert not [p for p in quickstart_run.rglob("*.tmp*")], "no temporary files left behind"
    # The manifest lists every entry kerasopt wrote, each under a name a run writes.
    manifest = json.loads((quickstart_run / MANIFEST_NAME).read_text())
    assert manifest["entries"] == sorted(names - {MANIFEST_NAME}) and manifest["recipe"] == "quickstart"
    assert all(is_run_name(name) for name in manifest["entries"])


def test_metrics_json_keys_and_values(quickstart_run):
    metrics = json.loads((quickstart_run / "metrics.json").read_text())
    assert metrics["recipe"] == "quickstart"
    assert metrics["runtime"] == {"device": "cpu", "strategy": "one_device", "replicas": 1,
                                  "mixed_precision": "float32", "learning_rate_factor": 1.0}
    assert metrics["timing"]["train_steps"] == 2 * 21  # 1293 training examples / 64 per batch
    assert metrics["sparsity"] == 0.0
    # digits: 64 features -> 64 -> 32 -> 10 (Keras counts no parameters for the normalizer).
    assert metrics["params"] == (64 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    test = metrics["evaluation"]["test"]
    assert set(metrics["evaluation"]) == {"test", "validation"}
    assert 0.5 < test["accuracy"] <= 1.0
    (stage,) = metrics["stages"]
    assert stage["name"] == "train" and stage["epochs"] == 2
    tflite = metrics["exports"]["tflite"]
    assert tflite["quantization"] == "none" and tflite["path"] == "model.tflite"
    assert tflite["bytes"] == (quickstart_run / "model.tflite").stat().st_size
    assert tflite["gzip_bytes"] < tflite["bytes"]
    assert tflite["max_abs_diff"] < 1e-4
    # The float TFLite file classifies the 360 test examples like the Keras model.
    assert abs(tflite["accuracy"] - test["accuracy"]) <= 1 / 360 + 1e-9
    assert metrics["exports"]["keras"]["bytes"] > 0


def test_model_keras_loads_in_safe_mode_and_takes_raw_inputs(quickstart_run):
    import keras
    from sklearn.datasets import load_digits

    model = keras.saving.load_model(quickstart_run / "model.keras", safe_mode=True)
    x, y = load_digits(return_X_y=True)
    accuracy = float(np.mean(np.argmax(model.predict(x.astype("float32"), verbose=0), -1) == y))
    assert accuracy > 0.5


def test_tensorboard_logs_scalars_lr_weight_norms_recipe_and_hparams(quickstart_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train = EventAccumulator(str(quickstart_run / "logs" / "train"), size_guidance={"tensors": 0})
    train.Reload()
    tags = set(train.Tags()["tensors"]) | set(train.Tags()["scalars"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags
    assert any(tag.startswith("weight_norm/") for tag in tags)
    assert any(tag.startswith("batch_") for tag in tags), "update_freq=5 logs batch-level scalars"
    top = EventAccumulator(str(quickstart_run / "logs"), size_guidance={"tensors": 0})
    top.Reload()
    assert "recipe" in top.Tags()["tensors"]
    assert "_hparams_/session_start_info" in top.Tags()["tensors"]
    assert "final/test.accuracy" in top.Tags()["tensors"]


def test_resolved_recipe_is_written_and_valid(quickstart_run, capsys):
    assert main(["validate", str(quickstart_run / "recipe.yaml")]) == 0, capsys.readouterr().err
    assert "epochs: 2" in (quickstart_run / "recipe.yaml").read_text()


def test_loss_curve_matches_golden_values(tmp_path, kerasopt):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    result = kerasopt("run", str(recipe), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    history = json.loads((tmp_path / "out" / "metrics.json").read_text())["stages"][0]["history"]
    # Golden values: produced by this same run (seed 0, deterministic ops, oneDNN off) on the
    # project's 2-core x86 CI machine with TensorFlow 2.21 / Keras 3.15.1, with the training
    # order of epoch e a permutation seeded by (seed, e) (kerasopt.data.pipeline, `epoch`).
    golden = GOLDEN_LOSS
    np.testing.assert_allclose(history["loss"], golden, rtol=1e-4)


GOLDEN_LOSS = [1.210850477218628, 1.056936502456665, 0.9587266445159912]


def test_missing_data_file_is_a_validation_error_before_anything_runs(tmp_path, capsys):
    recipe = tmp_path / "npz.yaml"
    recipe.write_text("name: npz\ndata: {source: npz, path: nowhere/data.npz, test_split: 0.2}\n"
                      "model: {architecture: mlp}\n")
    out = tmp_path / "out"
    assert main(["run", str(recipe), "--output-dir", str(out)]) == 2
    stderr = capsys.readouterr().err
    assert "npz.yaml:2:" in stderr and "data.path" in stderr
    assert "nowhere/data.npz" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_stages_continue_and_resume_skips_completed_stages(tmp_path, kerasopt):
    recipe = tmp_path / "staged.yaml"
    recipe.write_text(TINY + "stages:\n  - {name: first, epochs: 1}\n"
                      "  - name: second\n    epochs: 2\n    training: {optimizer: {learning_rate: 0.01}}\n")
    out = tmp_path / "out"
    first = kerasopt("run", str(recipe), "--output-dir", str(out))
    assert first.returncode == 0, first.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(s["name"], s["epochs"], s["steps"]) for s in metrics["stages"]] == [
        ("first", 1, 6), ("second", 2, 12)]
    again = kerasopt("run", str(recipe), "--output-dir", str(out), "--resume")
    assert again.returncode == 0, again.stderr
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["stages"] == metrics["stages"]
    for split in ("test", "validation"):
        assert resumed["evaluation"][split] == pytest.approx(metrics["evaluation"][split], rel=1e-6)


def test_steps_stop_training_exactly(tmp_path, kerasopt):
    recipe = tmp_path / "steps.yaml"
    recipe.write_text(TINY.replace("epochs: 3", "steps: 7"))
    result = kerasopt("run", str(recipe), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["timing"]["train_steps"] == 7
