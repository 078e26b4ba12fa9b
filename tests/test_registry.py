"""The one registry: lookups, Keras's own components, the committed signature table."""

from __future__ import annotations

import inspect

import keras
import pytest

from kerasopt import registry


def test_committed_table_matches_the_live_registry():
    # Regenerate with `python -m kerasopt.registry` after adding or changing a component.
    assert registry.load_table() == registry.build_table()


def test_lamb_is_reachable_unlike_keras_get():
    # keras.optimizers.get("lamb") fails in Keras 3.15 because Lamb is missing from its table.
    assert registry.get("optimizer", "lamb") is keras.optimizers.Lamb
    built = registry.build("optimizer", {"type": "Lamb", "learning_rate": 0.02})
    assert isinstance(built, keras.optimizers.Lamb)
    assert built.get_config()["learning_rate"] == pytest.approx(0.02)


@pytest.mark.parametrize("name", ["ScheduleFreeAdamW", "schedule_free_adam_w", "schedulefreeadamw"])
def test_names_ignore_case_and_underscores(name):
    assert registry.get("optimizer", name) is keras.optimizers.ScheduleFreeAdamW


def test_every_keras_optimizer_is_in_the_table():
    table = registry.load_table()["kinds"]["optimizer"]
    for name in ("adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam",
                 "ftrl", "lamb", "lion", "muon", "adafactor", "schedulefreeadamw"):
        assert name in table, name


def test_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError, match="Did you mean"):
        registry.get("optimizer", "adamm")


def test_build_nested_component_specs():
    optimizer = registry.build("optimizer", {
        "type": "sgd", "learning_rate": {"type": "CosineDecay", "initial_learning_rate": 0.1,
                                         "decay_steps": 10}})
    assert isinstance(optimizer.learning_rate, float) or optimizer._learning_rate is not None
    assert isinstance(optimizer._learning_rate, keras.optimizers.schedules.CosineDecay)


def test_loss_function_names_build_to_the_function():
    assert registry.build("loss", "mean_squared_error") is keras.losses.mean_squared_error
    with pytest.raises(ValueError, match="is a function and takes no arguments"):
        registry.build("loss", {"type": "mean_squared_error", "reduction": "sum"})


def test_register_refuses_a_taken_name():
    @registry.register("constraint", name="RegistryTestConstraint")
    class First(keras.constraints.Constraint):
        pass

    with pytest.raises(ValueError, match="already registered"):
        @registry.register("constraint", name="registry_test_constraint")
        class Second(keras.constraints.Constraint):
            pass

    del registry._REGISTRY["constraint"][registry.canonical("RegistryTestConstraint")]


def test_register_rejects_unknown_kind():
    with pytest.raises(ValueError, match="Unknown component kind 'optimiser'"):
        registry.register("optimiser")


def test_kerasopt_components_resolve_by_their_table_name_and_keras_serialization():
    table = registry.load_table()["kinds"]
    own = [(kind, key, entry) for kind, entries in table.items() for key, entry in entries.items()
           if entry["source"] == "kerasopt"]
    for kind, key, entry in own:
        cls = registry.get(kind, entry["name"])
        assert f"{cls.__module__}.{cls.__qualname__}" == entry["class"]
        assert registry.canonical(entry["name"]) == key
        assert keras.saving.get_registered_object(f"kerasopt>{cls.__name__}") is cls
        shadowed = table[kind].get("keras." + key)
        if shadowed is not None:
            assert registry.get(kind, "keras." + entry["name"]) is not cls


def test_signature_table_follows_kwargs_to_the_base_class():
    params, open_kwargs = registry.signature_params(keras.layers.Conv1D, "layer")
    names = {p["name"]: p for p in params}
    assert names["filters"]["required"] and not names["rank"]["required"]
    assert "name" in names and "dtype" in names and not open_kwargs


def test_snake_case():
    assert registry.snake_case("RectifiedAdam") == "rectified_adam"
    assert registry.snake_case("LRFinder") == "lr_finder"
    assert inspect.isfunction(registry.snake_case)
