"""The technique seam itself: every registered technique through its hooks, with a recording state.

Each technique in :data:`~kerasopt.recipe.run.techniques.TECHNIQUES` is played through the
hooks in the run's order (:data:`~kerasopt.recipe.run.techniques.technique.HOOKS`) on a real
tiny model and dataset, with its own settings from a tiny two-stage recipe, then played again
as `--resume` plays it when both stages are done (`stage_start` and `stage_end` only, the
stage's weights set in between). A technique registered without a recipe fragment here
fails `test_every_technique_has_a_recipe_fragment`, so a new one is covered.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.format.stages import resolve_stages
from kerasopt.recipe.run.techniques import TECHNIQUES
from kerasopt.recipe.run.techniques.state import TechniqueState
from kerasopt.recipe.run.techniques.technique import HOOKS, Technique

RECIPE: dict[str, Any] = {
    "name": "seam", "seed": 0,
    "data": {"source": "synthetic", "samples": 96, "input_shape": [6], "num_classes": 3,
             "test_split": 0.25, "validation_split": 0.2, "batch_size": 16},
    "model": {"architecture": "mlp", "units": [8]},
    "training": {"steps": 3, "optimizer": {"type": "adam", "learning_rate": 0.01}},
    "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
    "export": {"keras": False},
}
SGD = {"type": "sgd", "learning_rate": 0.01}
# Each technique's own settings: `model`/`training` update the top level, `second` the second
# stage (the first trains plainly, so a teacher or a later wrapper has a stage before it).
FRAGMENTS: dict[str, dict[str, Any]] = {
    "lsuv": {"model": {"kernel_initializer": "lsuv"}},
    "pruning": {"second": {"compression": {"pruning": {"pruning_schedule": {
        "type": "polynomial_decay", "initial_sparsity": 0.0, "final_sparsity": 0.5,
        "begin_step": 0, "end_step": 2, "frequency": 1}}}}},
    "clustering": {"second": {"compression": {"clustering": {"number_of_clusters": 3}}}},
    "low_rank": {"second": {"compression": {"low_rank": {"params_ratio": 0.5}}}},
    "channel_pruning": {"second": {"compression": {"channel_pruning": {"ratio": 0.5}}}},
    "qat": {"second": {"compression": {"qat": True}}},
    "distillation": {"second": {"compression": {"distillation": {"teacher": {"stage": "first"}}}}},
    "closure": {"training": {"optimizer": {"type": "sam", "optimizer": SGD}}},
    "probe_batch": {"training": {"callbacks": [{"type": "gradient_monitor", "every_n_steps": 1}]}},
    "weight_averaging": {"training": {"optimizer": {"type": "swa", "optimizer": SGD,
                                                    "average_period": 1}}},
    "ema": {"second": {"training": {"ema": {"decay": 0.5, "start": 1}}}},
    "lora": {"second": {"training": {"lora": {"rank": 2}}}},
}
# The only hooks that may replace the state's model (wrap at the start of a stage, strip
# before export); `fit_model` returns the trainee and leaves the model alone.
REPLACING = {"stage_start", "before_export"}


@dataclasses.dataclass
class RecordingState(TechniqueState):
    """A technique state that records the hook in which each replacement of `model` happened."""

    hook: str = ""
    replaced_in: list[str] = dataclasses.field(default_factory=list)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "model" and getattr(self, "hook", ""):
            self.replaced_in.append(self.hook)
        super().__setattr__(name, value)


def _recipe(tmp_path: Path, name: str) -> Any:
    fragment = FRAGMENTS[name]
    recipe = copy.deepcopy(RECIPE)
    recipe["name"] = name
    for section in ("model", "training"):
        recipe[section].update(fragment.get(section, {}))
    recipe["stages"] = [{"name": "first"}, {"name": "second", **fragment.get("second", {})}]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return load_recipe(str(path))


def _state(loaded: Any, technique: Technique) -> RecordingState:
    import keras

    from kerasopt.recipe.run import assemble, session

    keras.utils.set_random_seed(0)
    stages = resolve_stages(loaded.recipe, loaded.raw)
    data = session.build_data(loaded.recipe, loss=stages[0].training.loss)
    return RecordingState(
        loaded.recipe, str(loaded.path), stages, data=data,
        model=session.build_model(loaded.recipe, data),
        plans={s.index: assemble.plan_stage(s.training, data.steps_per_epoch) for s in stages},
        build_model=lambda section: session.build_model(loaded.recipe, data, section),
        strippers=[technique.strip])


def _play(technique_cls: type[Technique], loaded: Any,
          done: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """Play one technique through the hooks, as a run does; stages in `done` (name -> weights)
    as `--resume` does with a finished stage. Returns the calls, the state, the weights each
    stage ended with, and the report."""
    from kerasopt import registry
    from kerasopt.recipe.run import assemble

    technique = technique_cls()
    state = _state(loaded, technique)
    calls: list[tuple[str, str]] = []

    def hook(name: str, stage: Any = None, *args: Any) -> Any:
        calls.append((name, stage.name if stage is not None else ""))
        state.hook = name
        try:
            return getattr(technique, name)(state, *([stage] if stage is not None else []), *args)
        finally:
            state.hook = ""

    hook("model_built")
    optimizers = {}
    for stage in state.stages:  # each stage's, made once, as the run does
        plan = state.plans[stage.index]
        optimizers[stage.index] = registry.build(
            "optimizer", assemble.resolve_durations(stage.training.optimizer, plan))
        hook("optimizer_built", stage, optimizers[stage.index])
    weights = {}
    for stage in state.stages:
        hook("stage_start", stage)
        if done is not None:
            state.model.set_weights(done[stage.name])  # the structure the weights were saved from
            hook("stage_end", stage)
            continue
        model = state.model
        trainee = hook("fit_model", stage, model)
        assert state.model is model
        plan = state.plans[stage.index]
        optimizer = optimizers[stage.index]
        trainee.compile(optimizer=optimizer, loss=state.data.output.keras_loss())
        hook("compiled", stage, optimizer)
        hook("keeps_last_weights", stage)
        callbacks = assemble.build_callbacks(stage.training.callbacks, plan, {})
        callbacks += hook("callbacks", stage, callbacks)
        trainee.fit(state.data.train, epochs=plan.epochs, steps_per_epoch=plan.total_steps,
                    callbacks=callbacks, verbose=0, shuffle=False)
        hook("after_fit", stage, optimizer)
        weights[stage.name] = state.model.get_weights()
        hook("stage_end", stage)
    hook("before_export")
    return {"calls": calls, "state": state, "weights": weights, "report": hook("report")}


def test_every_technique_has_a_recipe_fragment():
    assert sorted(cls.name for cls in TECHNIQUES) == sorted(FRAGMENTS)


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda cls: cls.name)
def test_technique_through_the_hooks_and_a_resume(tmp_path, technique):
    import keras

    from kerasopt.models.layer_walk import all_layers

    loaded = _recipe(tmp_path, technique.name)
    played = _play(technique, loaded)
    state = played["state"]
    # The hooks in the run's order, every stage through all of them.
    stage_hooks = [h for h in HOOKS if h not in ("model_built", "optimizer_built", "before_export", "report")]
    assert played["calls"] == [("model_built", ""), *[("optimizer_built", s.name) for s in state.stages],
                               *[(h, s.name) for s in state.stages for h in stage_hooks],
                               ("before_export", ""), ("report", "")]
    assert set(state.replaced_in) <= REPLACING, state.replaced_in
    wrappers = [layer for layer in all_layers(state.model) if isinstance(layer, keras.layers.Wrapper)]
    if not technique.exports_wrappers:
        assert wrappers == []  # before_export left plain layers
    x = state.data.x_test[:8]
    expected = keras.ops.convert_to_numpy(state.model(x, training=False))

    # --resume with both stages done: stage_start rebuilds the structure the weights were
    # saved from, stage_end keeps what the technique keeps; the result is the same model.
    resumed = _play(technique, loaded, done=played["weights"])
    assert resumed["calls"] == [("model_built", ""), *[("optimizer_built", s.name) for s in state.stages],
                                *[(h, s.name) for s in state.stages for h in ("stage_start", "stage_end")],
                                ("before_export", ""), ("report", "")]
    assert set(resumed["state"].replaced_in) <= REPLACING
    np.testing.assert_allclose(keras.ops.convert_to_numpy(resumed["state"].model(x, training=False)),
                               expected, rtol=1e-5, atol=1e-6)
    assert resumed["report"] == played["report"]
    assert len(resumed["state"].model.weights) == len(state.model.weights)


# ---------------------------------------------------------------------------------------------
# Through a real run: the hook order the run keeps, a resume, and each stage's plan and
# optimizer made once.
# ---------------------------------------------------------------------------------------------

class Recorder(Technique):
    """A technique registered for the test: records every hook the run calls."""

    name = "recorder"
    calls: list[tuple[str, str]] = []

    def __getattribute__(self, name: str) -> Any:
        if name in HOOKS:
            def record(state: TechniqueState, stage: Any = None, *args: Any) -> Any:
                Recorder.calls.append((name, getattr(stage, "name", "")))
                hook = getattr(Technique, name)
                return hook(self, state, *([stage] if stage is not None else []), *args)
            return record
        return super().__getattribute__(name)


def _counted_sgd(made: list[Any]) -> type:
    """Keras's SGD, to register under `sgd` for the test: `made` gets every instance built from
    a spec (not the copies Keras deserializes when it clones a compiled model, which pruning's
    wrapping and stripping do; nothing trains with those)."""
    import keras

    @keras.saving.register_keras_serializable(package="kerasopt_tests")
    class CountedSGD(keras.optimizers.SGD):
        _copying = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if not CountedSGD._copying:
                made.append(self)

        @classmethod
        def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Any:
            cls._copying = True
            try:
                return super().from_config(config, custom_objects)
            finally:
                cls._copying = False

    return CountedSGD


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A two-stage run (linear LR scaling, factor 2; a pruning stage with `'1dur'` durations),
    then its `--resume` (both stages done), with a recording technique and a counted optimizer."""
    import keras

    from kerasopt import registry
    from kerasopt.recipe.run import techniques
    from kerasopt.recipe.run.runner import run

    made: list[Any] = []  # not a class attribute: Keras's saving walks those
    counted = _counted_sgd(made)
    seen: list[dict[str, Any]] = []

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            ends = [layer.schedule.end_step for layer in self.model.layers if hasattr(layer, "schedule")]
            seen.append({"optimizer": self.model.optimizer,
                         "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                         "end_steps": ends})

    recipe = copy.deepcopy(RECIPE)
    recipe["runtime"].update(scale_learning_rate="linear", base_batch_size=8)
    recipe["training"] = {"optimizer": {"type": "sgd", "learning_rate": 0.01}}
    recipe["stages"] = [
        {"name": "a", "steps": 5},
        {"name": "b", "epochs": 2, "training": {"optimizer": {"type": "sgd", "learning_rate": 0.03}},
         "compression": {"pruning": {"pruning_schedule": {
             "type": "polynomial_decay", "initial_sparsity": 0.0, "final_sparsity": 0.5,
             "begin_step": 0, "end_step": "1dur", "frequency": 1}}}}]
    folder = tmp_path_factory.mktemp("seam_run")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry._REGISTRY["optimizer"], registry.canonical("sgd"), counted)
        patch.setattr(techniques, "TECHNIQUES", (*techniques.TECHNIQUES, Recorder))
        for name, resume in (("fit", False), ("resume", True)):
            Recorder.calls, made[:], seen[:] = [], [], []
            metrics = run(load_recipe(str(path)), output_dir=str(folder / "out"), resume=resume,
                          callbacks=[Watch()])
            results[name] = {"metrics": metrics, "calls": list(Recorder.calls),
                             "made": list(made), "seen": list(seen)}
    return results


def test_the_run_calls_the_hooks_in_order_and_a_resumed_stage_gets_start_and_end_only(two_runs):
    stage_hooks = [h for h in HOOKS if h not in ("model_built", "optimizer_built", "before_export", "report")]
    built = [("optimizer_built", s) for s in "ab"]
    assert two_runs["fit"]["calls"] == [("model_built", ""), *built, *[(h, s) for s in "ab" for h in stage_hooks],
                                        ("before_export", ""), ("report", "")]
    assert two_runs["resume"]["calls"] == [
        ("model_built", ""), *built, *[(h, s) for s in "ab" for h in ("stage_start", "stage_end")],
        ("before_export", ""), ("report", "")]


def test_each_stage_builds_its_optimizer_once_and_trains_with_the_planned_rate_and_steps(two_runs):
    fit = two_runs["fit"]
    # One optimizer per stage, built with the scaled rate (factor 2: batch 16 / base 8)...
    made = fit["made"]
    assert [float(keras_value(o.learning_rate)) for o in made] == pytest.approx([0.02, 0.06])
    # ...the very one each stage trains with, at that rate, as metrics.json's factor says.
    assert [s["optimizer"] for s in fit["seen"]] == made
    assert [s["learning_rate"] for s in fit["seen"]] == pytest.approx([0.02, 0.06])
    assert fit["metrics"]["runtime"]["learning_rate_factor"] == 2.0
    # One plan per stage: stage b's steps, as trained and as its pruning schedule's '1dur'.
    steps = [s["steps"] for s in fit["metrics"]["stages"]]
    assert steps[0] == 5
    assert fit["seen"][1]["end_steps"] and set(fit["seen"][1]["end_steps"]) == {steps[1]}
    # A resume trains nothing: one optimizer per stage, to load its slots.
    assert len(two_runs["resume"]["made"]) == 2 and two_runs["resume"]["seen"] == []


def keras_value(variable: Any) -> Any:
    import keras

    return keras.ops.convert_to_numpy(variable)
