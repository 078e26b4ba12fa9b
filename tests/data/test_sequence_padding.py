"""Variable-length sequences (`data.sequences`): padding against NumPy, masking, refusals, a recipe end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from kerasopt.data.errors import DataError
from kerasopt.data.normalization import fit_normalizer
from kerasopt.data.sequence_padding import SequencePadding
from kerasopt.data.sources.npz_file import NpzFile
from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]


def sequences(count: int = 7, features: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(1, 9)), features)).astype(np.float32) + 5.0 for _ in range(count)]


def by_hand(seqs: list[np.ndarray], length: int, padding: str, truncating: str, value: float) -> np.ndarray:
    """The padded array written step by step, one sequence at a time."""
    out = np.full((len(seqs), length, seqs[0].shape[1]), value, dtype=np.float32)
    for i, s in enumerate(seqs):
        kept = s[:length] if truncating == "post" else s[-length:]
        start = 0 if padding == "post" else length - len(kept)
        for step, row in enumerate(kept):
            out[i, start + step, :] = row
    return out


@pytest.mark.parametrize(("padding", "truncating", "max_length"),
                         [("post", "post", None), ("pre", "pre", None), ("post", "pre", 4), ("pre", "post", 3)])
def test_padded_arrays_equal_a_numpy_construction(padding, truncating, max_length):
    seqs = sequences()
    pad = SequencePadding(padding=padding, truncating=truncating, max_length=max_length, value=-1.5)
    length = pad.length_of(seqs)
    assert length == (max_length or max(len(s) for s in seqs))
    np.testing.assert_array_equal(pad.pad(seqs, length), by_hand(seqs, length, padding, truncating, -1.5))
    # Sequences of scalars get one feature axis; Keras's own pad_sequences is a second oracle.
    scalars = [s[:, 0] for s in seqs]
    oracle = keras.utils.pad_sequences(scalars, maxlen=length, dtype="float32", padding=padding,
                                       truncating=truncating, value=-1.5)
    np.testing.assert_array_equal(pad.pad(scalars, length), oracle[..., None])


def test_npz_forms_load_to_the_same_padded_arrays_and_the_test_file_takes_the_training_length(tmp_path):
    train, test = sequences(seed=1), sequences(count=5, seed=2) + [np.full((20, 2), 7.0, np.float32)]
    y, y_test = np.arange(len(train)) % 2, np.arange(len(test)) % 2
    np.savez(tmp_path / "flat.npz", x=np.concatenate(train), x_lengths=[len(s) for s in train], y=y)
    np.savez(tmp_path / "flat_test.npz", x=np.concatenate(test), x_lengths=[len(s) for s in test], y=y_test)
    np.savez(tmp_path / "objects.npz", x=np.array(train, dtype=object), y=y)
    length = max(len(s) for s in train)
    expected = by_hand(train, length, "pre", "post", 0.0)
    flat = NpzFile({"path": str(tmp_path / "flat.npz"), "test_path": str(tmp_path / "flat_test.npz"),
                    "sequences": {"padding": "pre"}}).load(0)
    np.testing.assert_array_equal(flat.x, expected)
    np.testing.assert_array_equal(flat.x_test, by_hand(test, length, "pre", "post", 0.0))  # 20 steps cut to 8
    assert flat.x_test.shape == (6, length, 2) and flat.mask_value == 0.0
    objects = NpzFile({"path": str(tmp_path / "objects.npz"),
                       "sequences": {"padding": "pre", "allow_pickle": True, "mask": False}}).load(0)
    np.testing.assert_array_equal(objects.x, expected)
    assert objects.mask_value is None  # padded, not masked
    # Without the opt-in an object array is never unpickled; without `sequences` the hint says what to write.
    with pytest.raises(DataError, match="for a file you trust, set `data.sequences.allow_pickle: true`") as info:
        NpzFile({"path": str(tmp_path / "objects.npz"), "sequences": {}}).load(0)
    assert info.value.problem.key == "sequences.allow_pickle"
    with pytest.raises(DataError, match=r"x_lengths=\[len\(s\) for s in seqs\]") as info:
        NpzFile({"path": str(tmp_path / "objects.npz")}).load(0)
    assert info.value.problem.key == "x_key"


def test_normalizer_statistics_leave_out_the_padded_steps():
    seqs = sequences()
    padded = SequencePadding(max_length=20).pad(seqs, 20)
    layer = fit_normalizer(padded, "standardize", padding_value=0.0)
    real = np.concatenate(seqs).astype(np.float64)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.mean).ravel(), real.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.variance).ravel(), real.var(axis=0), rtol=1e-5)


@pytest.mark.parametrize(("layers", "padding"), [
    ([{"type": "lstm", "units": 3}], "post"), ([{"type": "gru", "units": 3}], "pre"),
    ([{"type": "dense", "units": 4}, {"type": "global_average_pooling1d"}], "post")])
def test_a_masked_model_gives_the_same_output_padded_to_10_or_20(layers, padding):
    seqs = sequences(count=4)
    pad = SequencePadding(padding=padding)
    normalizer = fit_normalizer(pad.pad(seqs, 10), "standardize", padding_value=0.0)
    spec = {"architecture": "layers", "layers": [*layers, {"type": "dense", "units": 2, "activation": "softmax"}]}
    outputs, plain, weights = [], [], None
    for length in (10, 20):
        model = build_model(spec, input_shape=(length, 2), num_classes=2, normalizer=normalizer, seed=3,
                            mask_value=0.0)
        unmasked = build_model(spec, input_shape=(length, 2), num_classes=2, normalizer=normalizer, seed=3)
        weights = weights or model.get_weights()  # one set of weights for all four models
        model.set_weights(weights)
        unmasked.set_weights(weights)
        assert model.layers[1].name == "masking"
        outputs.append(keras.ops.convert_to_numpy(model(pad.pad(seqs, length))))
        plain.append(keras.ops.convert_to_numpy(unmasked(pad.pad(seqs, length))))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    # Without the mask the padded steps count, and the outputs differ.
    assert not np.array_equal(plain[0], plain[1])


def test_layers_that_drop_the_mask_are_refused_by_name():
    with pytest.raises(ModelError, match=r"layer 'conv_1' \(Conv1D\) of `model.architecture: cnn`"):
        build_model({"architecture": "cnn", "filters": [4]}, input_shape=(10, 2), num_classes=2, mask_value=0.0)
    spec = {"architecture": "layers", "layers": ["flatten", {"type": "dense", "units": 2}]}
    with pytest.raises(ModelError, match="set `data.sequences.mask: false`"):
        build_model(spec, input_shape=(10, 2), num_classes=2, mask_value=0.0)
    build_model({"architecture": "cnn", "filters": [4]}, input_shape=(10, 2), num_classes=2)  # no mask: fine


def _recipe(folder: Path, name: str, sequences_option: dict, layers: list | None = None, **data) -> str:
    recipe = {"name": name, "seed": 0,
              "data": {"source": "npz", "path": str(folder / "train.npz"), "sequences": sequences_option,
                       "batch_size": 16, "normalization": "standardize", **data},
              "model": {"architecture": "layers", "layers": layers or [
                  {"type": "gru", "units": 4}, {"type": "dense", "units": 2, "activation": "softmax"}]},
              "training": {"epochs": 1}, "runtime": {"verbose": 0, "tensorboard": {"enabled": False}}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def _write_data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 96), ("test", 32)):
        y = np.arange(count) % 2
        seqs = [rng.normal(size=(int(rng.integers(2, 12)), 2)) + (2.0 * label - 1.0) for label in y]
        np.savez(folder / f"{split}.npz", x=np.concatenate(seqs).astype(np.float32),
                 x_lengths=[len(s) for s in seqs], y=y)


@pytest.mark.slow
def test_bad_values_exit_2_at_validate_and_a_recipe_runs_end_to_end(tmp_path, capsys):
    _write_data(tmp_path)
    bad = [_recipe(tmp_path, "side", {"padding": "middle"}),
           _recipe(tmp_path, "length", {"max_length": 0}),
           _recipe(tmp_path, "value", {"value": float("nan")}),
           _recipe(tmp_path, "typo", {"trunkating": "pre"}),
           _recipe(tmp_path, "clash", {"value": 1.0}, path=str(tmp_path / "clash.npz")),
           _recipe(tmp_path, "noised", {}, augmentation=[{"type": "noise", "stddev": 0.1}])]
    clash = [np.ones((3, 2), np.float32), np.zeros((2, 2), np.float32)]  # step 0 of sequence 0 is all 1.0
    np.savez(tmp_path / "clash.npz", x=np.concatenate(clash), x_lengths=[3, 2], y=[0, 1])
    from kerasopt.cli import main

    assert main(["validate", *bad]) == 2
    result = capsys.readouterr()
    for message in ("data.sequences.padding: `sequences.padding` must be 'post' or 'pre'",
                    "data.sequences.max_length: `sequences.max_length` must be a whole number >= 1",
                    "data.sequences.value: `sequences.value` must be a finite number",
                    "data.sequences.trunkating: unknown key 'trunkating'",
                    "data.sequences.value: step 0 of sequence 0",
                    "`augmentation` changes the padded steps of `sequences` too"):
        assert message.lower() in result.err.lower(), (message, result.err)
    assert "did you mean" in result.err.lower() and "truncating" in result.err
    assert "Traceback" not in result.err
    good = _recipe(tmp_path, "seq", {"padding": "pre", "max_length": 10}, test_path=str(tmp_path / "test.npz"))
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", good, "--output-dir", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 10, 2) and model.layers[1].name == "masking"
    data = NpzFile({"path": str(tmp_path / "train.npz"), "test_path": str(tmp_path / "test.npz"),
                    "sequences": {"padding": "pre", "max_length": 10}}).load(0)
    loss, accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    assert metrics["evaluation"]["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert metrics["evaluation"]["test"]["loss"] == pytest.approx(loss, rel=1e-5)
