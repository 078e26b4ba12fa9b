"""The fast MNIST-1D recipes keep the paper's CNN and stay within their step budgets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.format.stages import resolve_stages
from kerasopt.recipe.run import session
from kerasopt.recipe.run.assemble import plan_stage, resolve_durations
from kerasopt.recipe.run.runner import model_params, run

# recipe -> the most optimizer steps it may take, over all its stages
BUDGETS = {"mnist1d_cnn_fast": 3000, "mnist1d_cnn_1500": 1500}
# Conv1D of 5 taps, 1 -> 25 channels (1*5*25 + 25), two of 3 taps, 25 -> 25 (25*3*25 + 25 each);
# the stride-2 convolutions, each after one zero of padding a side, take the 40 steps to
# (42 - 5) // 2 + 1 = 19, (21 - 3) // 2 + 1 = 10 and (12 - 3) // 2 + 1 = 5, so Dense sees
# 5 * 25 = 125 features (125*10 + 10).
PAPER_PARAMS = (5 * 25 + 25) + 2 * (3 * 25 * 25 + 25) + (5 * 25 * 10 + 10)


@pytest.fixture(scope="module")
def data():
    """MNIST-1D as the fast recipes' runner builds it (4,000 training sequences, 10% held out).

    The paper recipe `mnist1d_cnn` holds none out, as the paper (40 steps per epoch).
    """
    return session.build_data(load_recipe("mnist1d_cnn_fast").recipe)


@pytest.fixture(scope="module")
def paper():
    """The paper recipe and its data: all 4,000 training sequences, in the generator's order."""
    recipe = load_recipe("mnist1d_cnn").recipe
    return recipe, session.build_data(recipe)


def steps_of(name: str, steps_per_epoch: int) -> int:
    """The optimizer steps a run of the recipe takes, stage by stage as the runner plans them."""
    loaded = load_recipe(name)
    return sum(plan_stage(stage.training, steps_per_epoch).total_steps
               for stage in resolve_stages(loaded.recipe, loaded.raw))


INITIALIZERS = ("kernel_initializer", "bias_initializer")


def layer_list(model) -> list[tuple[str, dict]]:
    """Each layer's class and configuration, without its (generated) name and its initializers.

    The paper recipe initializes as PyTorch does (the paper's code); the fast recipes keep Keras's.
    """
    return [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k not in ("name", *INITIALIZERS)})
            for layer in model.layers]


def without_initializers(model_spec: dict) -> dict:
    """A recipe's `model` section without the layers' initializer specs."""
    layers = [{k: v for k, v in layer.items() if k not in INITIALIZERS} for layer in model_spec["layers"]]
    return {**model_spec, "layers": layers}


@pytest.mark.parametrize("name", BUDGETS)
def test_recipe_validates_with_its_name(name):
    assert load_recipe(name).recipe.name == name


def test_paper_cnn_has_5210_parameters():
    assert PAPER_PARAMS == 5210


@pytest.mark.parametrize("name", BUDGETS)
def test_step_budget(name, data):
    assert data.steps_per_epoch == 36  # 3,600 training sequences in batches of 100
    assert steps_of(name, data.steps_per_epoch) == BUDGETS[name]


@pytest.mark.parametrize("name", BUDGETS)
def test_one_cycle_spans_the_whole_training(name, data):
    loaded = load_recipe(name)
    (stage,) = resolve_stages(loaded.recipe, loaded.raw)
    plan = plan_stage(stage.training, data.steps_per_epoch)
    schedule = resolve_durations(stage.training.optimizer, plan)["learning_rate"]
    assert schedule["type"] == "onecycle"
    assert schedule["total_steps"] == BUDGETS[name]


@pytest.mark.parametrize("name", BUDGETS)
def test_same_cnn_as_the_paper_recipe(name, data):
    paper = load_recipe("mnist1d_cnn").recipe
    fast = load_recipe(name).recipe
    assert without_initializers(fast.model.model_dump()) == without_initializers(paper.model.model_dump())
    paper_model = session.build_model(paper, data)
    fast_model = session.build_model(fast, data)
    assert model_params(fast_model) == model_params(paper_model) == PAPER_PARAMS
    assert layer_list(fast_model) == layer_list(paper_model)
    assert [(type(layer).__name__, tuple(layer.output.shape)) for layer in fast_model.layers] == [
        ("InputLayer", (None, 40, 1)), ("ZeroPadding1D", (None, 42, 1)), ("Conv1D", (None, 19, 25)),
        ("ZeroPadding1D", (None, 21, 25)), ("Conv1D", (None, 10, 25)), ("ZeroPadding1D", (None, 12, 25)),
        ("Conv1D", (None, 5, 25)), ("Flatten", (None, 125)), ("Dense", (None, 10))]


@pytest.mark.slow
def test_short_run_counts_steps_and_parameters(tmp_path):
    loaded = load_recipe("mnist1d_cnn_1500", ("training.steps=40", "runtime.verbose=0",
                                              "runtime.tensorboard.enabled=false", "export.keras=false",
                                              "export.tflite=null"))
    metrics = run(loaded, output_dir=str(tmp_path / "run"))
    assert metrics["timing"]["train_steps"] == 40
    assert metrics["params"] == PAPER_PARAMS
    assert metrics["evaluation"]["test"]["accuracy"] > 0.2  # 34% after 40 steps here; chance is 10%
    assert "last" not in metrics["evaluation"]  # restore_best: false keeps the final weights


def test_paper_recipe_follows_the_papers_protocol(paper):
    # Issue 23, item 8: mnist1d's train.py trains on all 4,000 sequences (no validation set)
    # in the fixed order bix = (step * 100) % 4000, Adam 1e-2 (PyTorch's eps 1e-8) without
    # weight decay, batch 100, 6000 steps, and tests the final weights.
    recipe, data = paper
    assert recipe.data.validation_split == 0.0 and recipe.data.batch_size == 100
    assert recipe.data.shuffle is False and recipe.data.normalization == "none" and not recipe.data.augmentation
    assert recipe.training.steps == 6000 and recipe.training.restore_best is False
    assert recipe.training.optimizer == {"type": "adam", "learning_rate": 0.01, "epsilon": 1e-8}
    assert data.steps_per_epoch == 40 and len(data.x_train) == 4000
    first_pass = list(data.train)
    assert [len(y) for _, y in first_pass] == [100] * 40  # nothing dropped, nothing left over
    np.testing.assert_array_equal(np.concatenate([x for x, _ in first_pass]), data.x_train)  # fixed order


def test_paper_recipe_initializes_as_pytorch(paper):
    # Issue 23, item 8: ConvBase's Conv1d and Linear layers keep PyTorch's default initialization:
    # kernels and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = kernel_size * in_channels.
    recipe, data = paper
    keras.utils.set_random_seed(0)
    model = session.build_model(recipe, data)
    weighted = [layer for layer in model.layers if layer.weights]
    assert [type(layer.kernel_initializer).__name__ for layer in weighted] == ["TorchDefault"] * 4
    for layer, fan_in in zip(weighted, (5, 75, 75, 125), strict=True):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
        assert int(np.prod(kernel.shape[:-1])) == fan_in
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.8 * bound
        assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.5 * bound  # not zeros
