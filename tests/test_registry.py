"""The one registry: lookups, Keras's own components, the committed signature table."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasopt
from kerasopt import atomic, registry, registry_cache, registry_table
from kerasopt.recipe.check import components
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def write_recipe(tmp_path):
    def _write(extra: str) -> str:
        path = tmp_path / "recipe.yaml"
        path.write_text("name: t\ndata: {source: digits}\nmodel: {architecture: mlp}\n" + extra)
        return str(path)

    return _write


def test_committed_table_matches_the_live_registry(tmp_path, monkeypatch):
    # Regenerate with `python -m kerasopt.registry_table` after adding or changing a component.
    shipped = registry_cache.load_table(registry_table.TABLE_PATH)
    installed = registry_cache.installed_keras_version()
    if installed == shipped["keras_version"]:
        assert shipped == registry_table.build_table()
        assert registry_cache.load_table() == shipped
    else:  # a newer Keras: the table in force is generated for it and cached
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        table = registry_cache.load_table()
        cached = registry_cache.cached_table_path(installed)
        assert cached.is_relative_to(tmp_path / "kerasopt")
        assert json.loads(cached.read_text()) == table == registry_table.build_table()


def _run_python(code: str, cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_another_keras_version_gets_a_cached_table_read_without_keras(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(registry_cache, "installed_keras_version", lambda: "99.0.0")
    cached = registry_cache.cached_table_path("99.0.0")
    assert not cached.exists()
    table = registry_cache.current_table()  # generated from the live registry, then written
    assert json.loads(cached.read_text()) == table == registry_table.build_table()
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no temporary file left
    # A second process reads the cached file for both the table and validation, without Keras.
    found = _run_python(f"""
        import json, sys
        from kerasopt import registry_cache
        registry_cache.installed_keras_version = lambda: "99.0.0"
        from kerasopt.recipe.check.components import table
        from kerasopt.recipe.check.loader import load_recipe
        load_recipe("quickstart")
        same = table() == json.loads(open({str(cached)!r}).read())
        print(json.dumps({{"same": same, "keras": "keras" in sys.modules}}))
        """, tmp_path)
    assert found == {"same": True, "keras": False}


def test_validation_follows_the_cached_table_of_the_installed_version(tmp_path, monkeypatch, write_recipe):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(registry_cache, "installed_keras_version", lambda: "99.0.0")
    newer = registry_cache.load_table(registry_table.TABLE_PATH)
    newer["kinds"]["optimizer"]["futureadam"] = dict(newer["kinds"]["optimizer"]["adam"], name="FutureAdam")
    atomic.write_json(registry_cache.cached_table_path("99.0.0"), newer)
    recipe = write_recipe("training: {optimizer: {type: future_adam, learning_rate: 0.1}}\n")
    components.table.cache_clear()
    try:
        assert load_recipe(recipe).recipe.training.optimizer["type"] == "future_adam"
        monkeypatch.setattr(registry_cache, "installed_keras_version",
                            lambda: newer["keras_version"])
        components.table.cache_clear()
        with pytest.raises(RecipeError, match="unknown optimizer 'future_adam'"):
            load_recipe(recipe)
    finally:
        components.table.cache_clear()


def test_matching_version_reads_the_shipped_table_and_writes_no_cache(tmp_path):
    shipped = registry_cache.load_table(registry_table.TABLE_PATH)["keras_version"]
    found = _run_python(f"""
        import json, sys
        from kerasopt import registry_cache
        registry_cache.installed_keras_version = lambda: {shipped!r}
        from kerasopt.recipe.check.components import table
        same = table() == registry_cache.shipped_table()
        print(json.dumps({{"same": same, "keras": "keras" in sys.modules}}))
        """, tmp_path)
    assert found == {"same": True, "keras": False}
    assert list(tmp_path.iterdir()) == []


def test_cache_key_follows_keras_kerasopt_and_component_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = registry_cache.cached_table_path("3.16.0")
    assert first.parent == tmp_path / "kerasopt"
    assert "keras3.16.0" in first.name and f"kerasopt{kerasopt.__version__}" in first.name
    assert registry_cache.cached_table_path("3.17.0") != first
    monkeypatch.setattr(registry_cache, "__version__", "9.9.9")
    assert registry_cache.cached_table_path("3.16.0") != first
    sources = registry_cache._source_files()
    assert Path(registry.__file__).resolve() in {p.resolve() for p in sources}
    assert any(p.name == "rectified_adam.py" for p in sources)
    module = tmp_path / "component.py"
    module.write_text("A = 1\n")
    monkeypatch.setattr(registry_cache, "_source_files", lambda: [module])
    registry_cache.source_hash.cache_clear()
    try:
        before = registry_cache.source_hash()
        module.write_text("A = 2\n")
        registry_cache.source_hash.cache_clear()
        assert registry_cache.source_hash() != before
    finally:
        registry_cache.source_hash.cache_clear()


def test_cache_dir_follows_xdg_and_ignores_a_relative_one(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert registry_cache.cache_dir() == tmp_path / "kerasopt"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert registry_cache.cache_dir() == Path.home() / ".cache" / "kerasopt"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert registry_cache.cache_dir() == Path.home() / ".cache" / "kerasopt"


def test_an_unwritable_cache_still_gives_the_generated_table(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(registry_cache, "installed_keras_version", lambda: "99.0.0")
    assert registry_cache.current_table() == registry_table.build_table()


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
    table = registry_cache.load_table()["kinds"]["optimizer"]
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


def test_an_initializer_argument_names_a_kerasopt_initializer_as_it_names_a_keras_one():
    layer = registry.build("layer", {"type": "Dense", "units": 3, "kernel_initializer": "TorchDefault",
                                     "bias_initializer": "he_normal"})
    assert type(layer.kernel_initializer).__name__ == "TorchDefault"
    assert isinstance(layer.bias_initializer, keras.initializers.HeNormal)  # Keras's own name, as Keras reads it
    layer.build((None, 4))
    assert np.abs(keras.ops.convert_to_numpy(layer.kernel)).max() <= 1 / np.sqrt(4)  # U(-1/sqrt(fan_in), ...)


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
    table = registry_cache.load_table()["kinds"]
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
    params, open_kwargs = registry_table.signature_params(keras.layers.Conv1D, "layer")
    names = {p["name"]: p for p in params}
    assert names["filters"]["required"] and not names["rank"]["required"]
    assert "name" in names and "dtype" in names and not open_kwargs


def test_snake_case():
    assert registry.snake_case("RectifiedAdam") == "rectified_adam"
    assert registry.snake_case("LRFinder") == "lr_finder"
    assert inspect.isfunction(registry.snake_case)
