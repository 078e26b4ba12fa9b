"""A diverging run is a failure (issue 19, item 2): it stops at the first non-finite loss, says
where and what to try, keeps the last finite weights, exports nothing and exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from kerasopt.callbacks.best_weights import BestWeights
from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RunFailed
from kerasopt.recipe.run.divergence_guard import Diverged, DivergenceGuard, non_finite_variables
from kerasopt.recipe.run.run_context import Run
from kerasopt.recipe.run.runner import run
from tests.tiny_recipe import write_tiny_recipe


def _nan_at_batch(batch: int, batches: int = 10, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Inputs whose batch `batch` (0-based) holds a NaN, so exactly that step's loss is NaN."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batches * size, 4)).astype("float32")
    x[batch * size, 0] = np.nan
    return x, rng.normal(size=(batches * size, 1)).astype("float32")


def _fit_guarded(steps_per_execution: int) -> tuple[str, BestWeights, keras.Model]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    x, y = _nan_at_batch(5)
    keeper = BestWeights(monitor="loss", restore=False)
    with pytest.raises(Diverged) as info:
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                  callbacks=[DivergenceGuard("train"), keeper])
    return str(info.value), keeper, model


def test_the_step_is_exact_with_one_step_per_execution():
    message, keeper, model = _fit_guarded(1)
    # Batch 5 (0-based) is step 6: the first NaN loss. Training stopped there, in epoch 1.
    assert "the training loss became nan at step 6 of epoch 1." in message
    assert int(model.optimizer.iterations.numpy()) == 6
    assert keeper.best_epoch is None  # the keeper never saw the diverged epoch
    assert "training.optimizer.learning_rate, now 0.01" in message and "clipnorm" in message
    assert "divergence_recovery" in message


def test_the_step_is_the_executions_range_with_several_steps_per_execution():
    message, _, model = _fit_guarded(4)
    # Executions run steps 1-4, 5-8, 9-10: the NaN of step 6 is reported as "5-8", honestly.
    assert "at one of steps 5-8 of epoch 1 (Keras reports the loss once per 4 steps" in message
    assert "training.steps_per_execution: 1" in message
    assert int(model.optimizer.iterations.numpy()) == 8


def test_weights_that_overflow_after_a_finite_loss_fail_at_the_epoch_end():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="out")], name="m")
    model.compile("sgd", "mse")
    guard = DivergenceGuard("train")
    guard.set_model(model)
    guard.set_params({"steps": 10})
    model.layers[0].kernel.assign(np.full((4, 1), np.inf, "float32"))
    assert non_finite_variables(model) == ["m/out/kernel"]
    with pytest.raises(Diverged, match=r"non-finite in the last update of epoch 2 \(step 10\).*out/kernel"):
        guard.on_epoch_end(1, {"loss": 0.5})


def _diverging_recipe(folder: Path, **training) -> str:
    """TINY with a validation split: 9 steps per epoch; SGD at 0.05 for two epochs, then 1e6."""
    return write_tiny_recipe(
        folder, data={"validation_split": 0.2},
        training={"epochs": 4, "steps_per_execution": 1,
                  "optimizer": {"type": "sgd", "learning_rate": {
                      "type": "piecewise_constant_decay", "boundaries": [18], "values": [0.05, 1.0e6]}},
                  **training},
        export={"keras": True, "tflite": {"quantization": "none"}})


def test_a_run_diverging_in_epoch_3_keeps_the_finite_backup_and_exports_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunFailed) as info:
        run(load_recipe(_diverging_recipe(tmp_path)), output_dir=str(out))
    message = str(info.value)
    assert "training diverged in stage 'train': the training loss became" in message
    assert "of epoch 3." in message  # steps 19+ run at 1e6
    assert f"after epoch 2 of the stage, are kept in {out / 'checkpoints' / 'backup_train'}" in message
    backup = json.loads((out / "checkpoints" / "backup_train" / "backup.json").read_text())
    assert backup["epoch"] == 2
    with h5py.File(out / "checkpoints" / "backup_train" / backup["weights"]) as weights:
        arrays = []
        weights.visititems(lambda _, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    assert arrays and all(np.isfinite(a).all() for a in arrays if a.dtype.kind == "f")
    # Nothing was exported, and the run does not look finished.
    for name in ("model.keras", "model.tflite", "metrics.json", "checkpoints/stage_0_train.weights.h5"):
        assert not (out / name).exists(), name


def test_divergence_recovery_that_recovers_finishes(tmp_path):
    recovery = {"type": "divergence_recovery", "factor": 1.0e-7, "max_retries": 3}
    recipe = _diverging_recipe(tmp_path, callbacks=[recovery],
                               optimizer={"type": "sgd", "learning_rate": 1.0e6})
    metrics = run(load_recipe(recipe, ["export.tflite=null"]), output_dir=str(tmp_path / "run"))
    assert np.isfinite(metrics["evaluation"]["test"]["loss"])
    assert metrics["evaluation"]["test"]["accuracy"] > 0.5  # 3 classes: well above chance
    assert (tmp_path / "run" / "model.keras").is_file()


def test_divergence_recovery_that_gives_up_fails(tmp_path):
    recovery = {"type": "divergence_recovery", "factor": 0.5, "max_retries": 0}
    recipe = _diverging_recipe(tmp_path, callbacks=[recovery])
    with pytest.raises(RunFailed, match=r"DivergenceRecovery rolled back 0 time\(s\).*epoch 3"):
        run(load_recipe(recipe), output_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run" / "model.keras").exists()


def test_cli_exits_1_with_one_message(tmp_path, capsys):
    recipe = write_tiny_recipe(tmp_path, training={"epochs": 4, "optimizer": {"type": "sgd", "learning_rate": 1.0e6}},
                               export={"keras": True})
    out = tmp_path / "run"
    assert main(["run", recipe, "--output-dir", str(out)]) == 1
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if line.startswith("kerasopt: error:")]
    assert len(errors) == 1 and "training diverged in stage 'train'" in errors[0]
    assert "Traceback" not in printed.err and "finished" not in printed.out
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()


def test_a_model_with_non_finite_weights_is_never_evaluated_or_exported(tmp_path):
    # However the weights got there (a stage's weights file loaded on --resume, a technique's
    # hook), the run stops before evaluating or exporting them.
    with Run(load_recipe(write_tiny_recipe(tmp_path))).open() as current:
        current.build()
        current.finish_training()  # finite: nothing to say
        kernel = current.model.layers[-1].kernel
        kernel.assign(np.where(np.eye(*kernel.shape, dtype=bool), np.nan, kernel.numpy()))
        with pytest.raises(Diverged, match=r"non-finite weights \(.*kernel\); nothing was evaluated"):
            current.finish_training()
