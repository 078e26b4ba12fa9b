"""Runner features in-process: LR auto and lr-find, LSUV, run-time errors, device choice, TensorBoard."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import tensorflow as tf
import yaml

from kerasopt.distribute.device import DeviceError, select_placement
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.commands.lr_find import lr_find
from kerasopt.recipe.errors import describe
from kerasopt.recipe.run.runner import run
from tests.tiny_recipe import TINY, write_tiny_recipe


def test_learning_rate_auto_runs_the_range_test_first(tmp_path, capsys):
    path = write_tiny_recipe(tmp_path, training={"optimizer": {"type": "sgd", "learning_rate": "auto"}})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    assert (tmp_path / "out" / "lr_find_train.png").stat().st_size > 0
    printed = capsys.readouterr().out
    suggestion = float(printed.split("suggests learning_rate=")[1].split()[0])
    assert 1e-6 < suggestion < 10.0
    assert metrics["stages"][0]["history"]["loss"][-1] < metrics["stages"][0]["history"]["loss"][0]


def test_learning_rate_auto_sweeps_the_same_batches_under_a_strategy(tmp_path, capsys):
    # Under a mirrored strategy Keras's fit opens an iterator once to build the model; on a one-pass
    # dataset that numbered the sweep's passes on by one (0.108 under mirrored against
    # 0.0683 on one device, before the sweep read the endless passes from the stage's first).
    suggestions = {}
    for strategy in ("one_device", "mirrored"):
        folder = tmp_path / strategy
        folder.mkdir()
        path = write_tiny_recipe(folder, training={"epochs": 1, "optimizer": {"type": "adam", "learning_rate": "auto"}},
                                 runtime={**TINY["runtime"], "strategy": strategy})
        metrics = run(load_recipe(path), output_dir=str(folder / "out"))
        assert metrics["runtime"]["strategy"] == strategy and metrics["runtime"]["replicas"] == 1
        suggestions[strategy] = float(capsys.readouterr().out.split("suggests learning_rate=")[1].split()[0])
    assert suggestions["mirrored"] == suggestions["one_device"]


def test_lr_find_command_prints_a_suggestion_and_writes_the_plot(tmp_path, capsys):
    # From 1e-7 with 40 steps the sweep never learned: the old suggestion was 1e-8, below min_lr.
    finder = lr_find(load_recipe(write_tiny_recipe(tmp_path)), output_dir=str(tmp_path / "lr"),
                     min_lr=1e-4, num_steps=40, smoothing=0.9)
    assert (tmp_path / "lr" / "lr_find.png").stat().st_size > 0
    assert f"suggested learning_rate: {finder.suggestion:.4g}" in capsys.readouterr().out
    assert len(finder.lrs) == len(finder.losses) > 10
    assert 1e-4 <= finder.suggestion <= 10.0


def test_lr_find_on_a_flat_curve_fails_saying_so(tmp_path):
    """Issue 19 item 9: rates too small to move the loss used to give a suggestion below min_lr."""
    from kerasopt.recipe.errors import RunFailed

    with pytest.raises(RunFailed, match=r"no usable minimum: over learning rates 1e-07 to 1e-06 the "
                                        r"smoothed loss never fell 5% below its first value"):
        lr_find(load_recipe(write_tiny_recipe(tmp_path)), output_dir=str(tmp_path / "lr"),
                max_lr=1e-6, num_steps=20)
    assert (tmp_path / "lr" / "lr_find.png").stat().st_size > 0  # the plot shows the flat curve


def test_lsuv_from_a_recipe_gives_unit_variance_pre_activations(tmp_path):
    import keras
    import numpy as np

    path = write_tiny_recipe(tmp_path, model={"units": [16] * 8, "kernel_initializer": "lsuv"},
                   training={"epochs": 1}, export={"keras": True})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    assert metrics["evaluation"]["test"]["accuracy"] > 1 / 3
    model = keras.saving.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    assert np.isfinite(model.predict(np.zeros((2, 6), "float32"), verbose=0)).all()


@pytest.mark.parametrize(("sections", "fragment"), [
    ({"model": {"architecture": "cnn"}}, "cnn"),
    ({"model": {"architecture": "file", "path": "missing/model.keras"}}, "missing/model.keras"),
    ({"data": {"source": "csv", "path": "no/such.csv", "target": "label"}}, "no/such.csv"),
])
def test_run_time_errors_name_the_key_and_value_and_write_no_metrics(tmp_path, sections, fragment):
    raw = yaml.safe_load(yaml.safe_dump(TINY))
    for key, value in sections.items():
        raw[key] = value if key == "model" else {**value, "test_split": 0.2}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(Exception) as info:  # noqa: B017 - each source raises its own error type
        run(load_recipe(str(path)), output_dir=str(tmp_path / "out"))
    message = describe(info.value)
    assert fragment in message and "Traceback" not in message
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_an_error_that_embeds_a_variable_is_shown_without_its_values_and_bounded():
    import keras

    from kerasopt.recipe.errors import MAX_MESSAGE_CHARS

    # TensorFlow's own error for a variable made outside a strategy's scope (what LoRA under
    # `strategy: mirrored` raised) embeds the variable, all 256 values: 4,097 characters.
    layer = keras.layers.Dense(4, name="d")
    layer.build((None, 64))
    with pytest.raises(ValueError) as info, tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        keras.optimizers.Adam().build(layer.trainable_variables)
    assert len(str(info.value)) > 4000
    assert describe(info.value) == (
        "`colocate_vars_with` must only be passed a variable created in this tf.distribute.Strategy.scope(), "
        "not: <tf.Variable 'd/kernel:0' shape=(64, 4) dtype=float32, numpy=...>")
    # Anything else long keeps its beginning and end (where a resume command sits).
    long = describe(RuntimeError("x" * 5000 + " resume with: kerasopt run r.yaml --resume"))
    assert len(long) < MAX_MESSAGE_CHARS < 5000
    assert long.startswith("RuntimeError: xxx") and long.endswith("kerasopt run r.yaml --resume")
    assert "[... 4,156 characters cut; --debug shows the whole message ...]" in long


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="needs a machine without a GPU")
def test_asking_for_an_absent_gpu_is_one_clear_error():
    with pytest.raises(DeviceError, match="runtime.device: 'gpu' was requested, but TensorFlow sees no GPU"):
        select_placement("gpu")
    assert select_placement("auto").describe() == {"device": "cpu", "strategy": "one_device", "replicas": 1}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tensorboard_command_serves_the_logs_on_localhost(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path / "logs" / "run1"))
    with writer.as_default():
        tf.summary.scalar("loss", 1.0, step=0)
    writer.close()
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen([sys.executable, "-m", "kerasopt.cli", "tensorboard",
                               str(tmp_path / "logs"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 90
        runs = None
        while time.monotonic() < deadline and runs is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2) as reply:
                    runs = json.loads(reply.read())
            except OSError:
                time.sleep(0.5)
        assert runs == ["run1"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mixed_precision_trains_and_the_policy_is_reset_afterwards(tmp_path):
    import keras

    path = write_tiny_recipe(tmp_path, runtime={"mixed_precision": "mixed_bfloat16"},
                   training={"epochs": 4}, export={"keras": True})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    losses = metrics["stages"][0]["history"]["loss"]
    assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
    assert keras.config.dtype_policy().name == "float32"
    model = keras.saving.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    assert {layer.compute_dtype for layer in model.layers if layer.weights} >= {"bfloat16"}


def test_batch_size_auto_searches_within_the_memory_cap_and_scales_the_rate(tmp_path, monkeypatch):
    from kerasopt.callbacks import batch_size_finder

    # The memory probe is replaced by a linear model of it (1 KiB per example), so the cap
    # of 64 KiB admits batch 64 and not 128; trying 8, 16, 32, 64, 128.
    monkeypatch.setattr(batch_size_finder.BatchSizeFinder, "measure",
                        lambda self, model, x, y, sw: 1024 * len(x), raising=True)
    path = write_tiny_recipe(
        tmp_path, data={"batch_size": "auto", "batch_size_search": {
            "max_memory_bytes": 64 * 1024, "scale_lr": "linear", "base_batch_size": 16}},
        training={"optimizer": {"type": "sgd", "learning_rate": 10.0}})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    search = metrics["batch_size_search"]
    assert search["batch_size"] == 64 and search["lr_factor"] == pytest.approx(4.0)
    # 240 samples - 60 test - 18 validation = 162 training examples: 3 batches of 64 per epoch.
    assert metrics["timing"]["train_steps"] == 2 * 3


def test_resume_continues_an_interrupted_stage_from_its_last_backup(tmp_path, monkeypatch):
    import keras

    path = write_tiny_recipe(tmp_path, training={"epochs": 6})
    out = str(tmp_path / "out")
    original = keras.callbacks.History.on_epoch_end

    def crash_after_third_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 2:  # the backup of epochs 0-2 has been written by then
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", crash_after_third_epoch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(path), output_dir=out)
    assert not (tmp_path / "out" / "metrics.json").exists()
    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", original)
    metrics = run(load_recipe(path), output_dir=out, resume=True)
    (stage,) = metrics["stages"]
    # 162 training examples in batches of 16: 11 steps per epoch. The resumed fit ran
    # epochs 3-5 only; the optimizer's step count and the history of epochs 0-2 came
    # back from the backup.
    assert stage["epochs"] == 6 and stage["steps"] == 6 * 11
    assert len(stage["history"]["loss"]) == 6


def test_restore_best_evaluates_the_best_epoch_and_reports_the_last(tmp_path):
    # SGD at 10.0 makes validation loss bounce, so the best epoch is an earlier one.
    path = write_tiny_recipe(tmp_path, data={"validation_split": 0.2},
                             training={"epochs": 7, "optimizer": {"type": "sgd", "learning_rate": 10.0}})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    stage = metrics["stages"][0]
    losses = stage["history"]["val_loss"]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert best < len(losses) - 1, f"the set-up must make an earlier epoch best: {losses}"
    assert stage["best_epoch"] == best + 1 == metrics["evaluation"]["best_epoch"]  # 1-based, as Keras prints
    assert metrics["evaluation"]["validation"]["loss"] == pytest.approx(losses[best], rel=1e-4)
    assert metrics["evaluation"]["last"]["validation"]["loss"] == pytest.approx(losses[-1], rel=1e-4)


def test_last_row_holds_the_last_epoch_even_when_early_stopping_restores(tmp_path):
    """Issue 19 item 11: with EarlyStopping(restore_best_weights=True) (as in quickstart) the
    "last" numbers were those of the restored best weights, and best_epoch was 0-based."""
    callbacks = [{"type": "early_stopping", "monitor": "val_loss", "patience": 20,
                  "restore_best_weights": True}]
    path = write_tiny_recipe(tmp_path, data={"validation_split": 0.2},
                             training={"epochs": 7, "callbacks": callbacks,
                                       "optimizer": {"type": "sgd", "learning_rate": 10.0}})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    losses = metrics["stages"][0]["history"]["val_loss"]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert best < len(losses) - 1, f"the set-up must make an earlier epoch best: {losses}"
    evaluation = metrics["evaluation"]
    assert evaluation["best_epoch"] == best + 1
    assert evaluation["validation"]["loss"] == pytest.approx(losses[best], rel=1e-4)
    assert evaluation["last"]["validation"]["loss"] == pytest.approx(losses[-1], rel=1e-4)
    assert abs(losses[-1] - losses[best]) > 1e-3


def test_staged_tensorboard_curves_continue_across_stages(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = write_tiny_recipe(tmp_path, runtime={"tensorboard": {"enabled": True}}, training={},
                             stages=[{"name": "a", "epochs": 2}, {"name": "b", "epochs": 3}])
    run(load_recipe(path), output_dir=str(tmp_path / "out"))
    events = EventAccumulator(str(tmp_path / "out" / "logs" / "train"))
    events.Reload()
    steps = [e.step for e in events.Tensors("epoch_loss")]
    assert steps == [0, 1, 2, 3, 4]


def test_a_tflite_export_below_the_allowed_accuracy_fails_the_run_naming_it():
    from kerasopt.recipe.format.schema import Recipe
    from kerasopt.recipe.run.export_gate import ExportCheckError, check_exports

    recipe = Recipe.model_validate({"name": "r", "data": {"source": "digits"},
                                    "model": {"architecture": "mlp"},
                                    "export": {"tflite": {"quantization": "int8"}}})
    exports = {"tflite": {"path": "model.tflite", "quantization": "int8", "accuracy": 0.63,
                          "keras_accuracy": 0.97},
               "tflite_float": {"path": "model_float.tflite", "accuracy": 0.97, "keras_accuracy": 0.97}}
    with pytest.raises(ExportCheckError, match=r"model.tflite \(int8\) reaches 0.6300.*34.0 points"):
        check_exports(recipe, {"exports": exports})
    exports["tflite"]["accuracy"] = 0.955  # 1.5 points: within the default 2
    check_exports(recipe, {"exports": exports})


def test_lr_find_runs_on_a_schedule_inside_a_wrapper_and_prints_the_right_key(tmp_path, capsys):
    optimizer = {"type": "lookahead", "optimizer": {
        "type": "radam", "learning_rate": {"type": "cosine_decay", "initial_learning_rate": 0.01,
                                           "decay_steps": 100}}}
    loaded = load_recipe(write_tiny_recipe(tmp_path, training={"optimizer": optimizer}))
    finder = lr_find(loaded, output_dir=str(tmp_path / "lr"), min_lr=1e-4, num_steps=40, smoothing=0.9)
    printed = capsys.readouterr().out
    assert finder.suggestion is not None and "CosineDecay" in finder.note
    assert "schedule at `training.optimizer.optimizer.learning_rate` (cosine_decay)" in printed


def test_lr_find_key_for_a_wrapped_float_rate(tmp_path):
    from kerasopt.recipe.commands.lr_find import learning_rate_key

    optimizer = {"type": "lookahead", "optimizer": {"type": "radam", "learning_rate": 0.01}}
    loaded = load_recipe(write_tiny_recipe(tmp_path, training={"optimizer": optimizer}))
    assert learning_rate_key(loaded) == ("training.optimizer.optimizer.learning_rate", None)


def test_summary_shows_best_and_last_weights_numbers(tmp_path):
    from pathlib import Path

    from kerasopt.recipe.run.summary import summary_lines

    metrics = {"recipe": "r", "params": 10, "timing": {"fit_seconds": 1.0, "train_steps": 5},
               "runtime": {"device": "cpu", "strategy": "one_device", "replicas": 1}, "exports": {},
               "evaluation": {"validation": {"loss": 0.25}, "test": {"loss": 0.5},
                              "last": {"validation": {"loss": 0.75}, "test": {"loss": 1.0}},
                              "best_epoch": 3}}
    text = "\n".join(summary_lines(metrics, Path("out")))
    assert "best epoch (3)" in text  # metrics.json's best_epoch is already 1-based
    assert "test (last)" in text and "1.0000" in text and "0.2500" in text
