"""The shipped time-series recipes (issue 23, item 6) on data a user brings, and their model options."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from kerasopt.cli import main
from kerasopt.recipe.format.shipped import recipes_dir

RESNET1D = str(recipes_dir() / "timeseries" / "resnet1d.yaml")


def _split(folder, name, rows, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    x = rng.normal(size=(rows, 16, 2)) + y[:, None, None]  # separable: the class shifts the level
    np.savez(folder / name, x=x.astype("float32"), y=y)
    return str(folder / name)


def test_resnet1d_recipe_runs_on_a_users_npz_split_with_stochastic_depth(tmp_path):
    train, test = _split(tmp_path, "train.npz", 48, 0), _split(tmp_path, "test.npz", 24, 1)
    out = tmp_path / "run"
    code = main(["run", RESNET1D, "data.source=npz", f"data.path={train}", f"data.test_path={test}",
                 "model.filters=[4, 4]", "model.stochastic_depth=0.2", "training.epochs=1",
                 "data.batch_size=16", "runtime.verbose=0", "runtime.tensorboard.enabled=false",
                 "--output-dir", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["evaluation"]["test"]["accuracy"] <= 1.0
    block1 = (8 * 2 * 4 + 5 * 4 * 4 + 3 * 4 * 4) + 1 * 2 * 4 + 4 * 4 * 4  # convs, 1x1 proj, 4 batch norms
    block2 = (8 * 4 * 4 + 5 * 4 * 4 + 3 * 4 * 4) + 4 * 4 * 4  # same width: batch norm on the shortcut
    assert metrics["params"] == block1 + block2 + (4 * 3 + 3)
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert [model.get_layer(f"block{b}_drop_path").rate for b in (1, 2)] == pytest.approx([0.1, 0.2])
    x = np.load(test)["x"]
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict_on_batch(x))  # inference: no drops


@pytest.mark.parametrize("override,fragment", [
    ("model.stochastic_depth=1.0", "model.stochastic_depth"),
    ("model.kernel_size=[8, 0, 3]", "model.kernel_size"),
    ("model.architecture=resnet_1d", "resnet1d"),
])
def test_bad_timeseries_model_options_are_exit_2(capsys, override, fragment):
    assert main(["show", RESNET1D, override]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
