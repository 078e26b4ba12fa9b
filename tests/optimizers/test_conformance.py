"""Registry-wide optimizer conformance suite.

Every optimizer registered by kerasopt (`kerasopt.registry._REGISTRY["optimizer"]`, after
`load_components()`, aliases de-duplicated) needs a `Conformance` entry in the `SETTINGS`
dict of some `tests/optimizers/conformance_settings_*.py`. For each one the suite checks,
through `model.fit` on a tiny model whose single weight vector is the parameter and whose
loss is the test function of that weight:

1. it minimizes the ill-conditioned quadratic 0.5 (x1^2 + 10 x2^2) from (1, 1);
2. it minimizes Rosenbrock (1 - x1)^2 + 100 (x2 - x1^2)^2 from (-1.2, 1) (unless skipped
   with a reason);
3. float32 variables and their optimizer state stay float32, a float16 parameter stays
   float16 (and finite);
4. the compiled train function is traced once: its tracing count after a few steps
   equals the count after many more steps (in a second `fit` call);
5. `from_config(get_config())` rebuilds the same config;
6. a `.keras` file of a trained Dense model loads with `safe_mode=True` and gives back
   the same optimizer class, config and state.

Problems run with `steps_per_execution` > 1 and `jit_compile=False` to stay fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

import tests.optimizers
from kerasopt import registry
from tests.optimizers.conformance_spec import Conformance

STEPS_PER_EXECUTION = 100
WARMUP_STEPS = 10


def _collect_settings() -> dict[str, tuple[str, Conformance]]:
    """All SETTINGS entries, keyed by canonical name -> (module name, settings)."""
    found: dict[str, tuple[str, Conformance]] = {}
    folder = Path(tests.optimizers.__file__).parent
    for info in pkgutil.iter_modules([str(folder)]):
        if not info.name.startswith("conformance_settings_"):
            continue
        module = importlib.import_module(f"tests.optimizers.{info.name}")
        for name, settings in module.SETTINGS.items():
            key = registry.canonical(name)
            if key in found:
                raise ValueError(
                    f"Optimizer {name!r} has settings in both {found[key][0]} and {info.name}."
                )
            found[key] = (info.name, settings)
    return found


def _registered() -> dict[type, list[str]]:
    """Each registered optimizer class with all its registered names."""
    registry.load_components()
    names: dict[type, list[str]] = {}
    for key, cls in registry._REGISTRY["optimizer"].items():
        names.setdefault(cls, []).append(registry._DISPLAY["optimizer"][key])
    return names


SETTINGS = _collect_settings()
REGISTERED = _registered()


def _settings_for(cls: type) -> Conformance | None:
    for name in REGISTERED[cls]:
        entry = SETTINGS.get(registry.canonical(name))
        if entry is not None:
            return entry[1]
    return None


CASES = sorted(
    ((cls.__name__, settings) for cls in REGISTERED if (settings := _settings_for(cls))),
    key=lambda case: case[0],
)
IDS = [name for name, _ in CASES]


def test_every_registered_optimizer_has_settings() -> None:
    assert len(REGISTERED) >= 7, "load_components() found too few optimizers"
    missing = sorted(
        f"{cls.__module__}.{cls.__qualname__} (names: {', '.join(names)})"
        for cls, names in REGISTERED.items()
        if _settings_for(cls) is None
    )
    assert not missing, (
        "Registered optimizers without conformance settings (add a Conformance entry to a "
        "tests/optimizers/conformance_settings_*.py SETTINGS dict): " + "; ".join(missing)
    )


def test_every_settings_entry_names_a_registered_optimizer() -> None:
    known = {registry.canonical(n) for names in REGISTERED.values() for n in names}
    stale = sorted(f"{name} ({module})" for name, (module, _) in SETTINGS.items() if name not in known)
    assert not stale, f"Conformance settings for unregistered optimizers: {stale}"


# ---------------------------------------------------------------------------
# A model whose only weight is the parameter vector
# ---------------------------------------------------------------------------


class _Parameter(keras.layers.Layer):
    """Outputs its weight vector (one row per input row); the loss is a function of it."""

    def __init__(self, start: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape: Any) -> None:
        self.point = self.add_weight(
            shape=(len(self.start),),
            initializer=keras.initializers.Constant(np.array(self.start)),
            name="point",
        )

    def call(self, inputs: Any) -> Any:
        return ops.zeros_like(inputs[:, :1]) + ops.cast(self.point, inputs.dtype)


def _quadratic(y_true: Any, y_pred: Any) -> Any:
    return 0.5 * (y_pred[:, 0] ** 2 + 10.0 * y_pred[:, 1] ** 2)


def _rosenbrock(y_true: Any, y_pred: Any) -> Any:
    x1, x2 = y_pred[:, 0], y_pred[:, 1]
    return (1.0 - x1) ** 2 + 100.0 * (x2 - x1**2) ** 2


def _problem_model(settings: Conformance, start: list[float], loss: Any, dtype: str = "float32") -> keras.Model:
    inputs = keras.Input((1,), dtype=dtype)
    layer = _Parameter(start, dtype=dtype)
    model = keras.Model(inputs, layer(inputs))
    model.compile(
        optimizer=settings.make(),
        loss=loss,
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=False,
    )
    if settings.needs_train_step:
        closure = pytest.importorskip(
            "kerasopt.training.closure", reason="kerasopt.training.closure is not written yet"
        )
        closure.enable_closure(model)
    return model


def _fit(model: keras.Model, steps: int, dtype: str = "float32") -> None:
    # The problems are deterministic: every batch is the same single row (full batch).
    x = np.zeros((steps, 1), dtype=dtype)
    y = np.zeros((steps, 1), dtype=dtype)
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)


def _tracing_count(function: Any) -> int:
    """Sum of tracing counts of the tf.functions behind Keras's `model.train_function`."""
    total, seen, todo = 0, set(), [function]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if hasattr(item, "experimental_get_tracing_count"):
            total += item.experimental_get_tracing_count()
            item = getattr(item, "python_function", None)
        for cell in getattr(item, "__closure__", None) or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:
                continue
    return total


def _point(model: keras.Model) -> np.ndarray:
    return np.asarray(model.layers[-1].point.numpy(), dtype="float64")


@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_minimizes_quadratic_without_retracing(name: str, settings: Conformance) -> None:
    model = _problem_model(settings, [1.0, 1.0], _quadratic)
    _fit(model, WARMUP_STEPS)
    traced = _tracing_count(model.train_function)
    assert traced >= 1, "found no tf.function behind model.train_function"
    _fit(model, settings.quadratic_steps - WARMUP_STEPS)
    assert _tracing_count(model.train_function) == traced, f"{name} retraced the train step"
    error = np.abs(_point(model)).max()
    assert error <= settings.quadratic_tol, f"{name}: |x - x*| = {error:.3g} on the quadratic"
    assert model.layers[-1].point.dtype == "float32"
    for variable in model.optimizer.variables:
        if "float" in str(variable.dtype):
            assert variable.dtype == "float32", f"{variable.path} is {variable.dtype}"


@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_minimizes_rosenbrock(name: str, settings: Conformance) -> None:
    if settings.rosenbrock_tol is None:
        assert settings.skip_reason, f"{name} skips Rosenbrock without a skip_reason"
        pytest.skip(settings.skip_reason)
    model = _problem_model(settings, [-1.2, 1.0], _rosenbrock)
    _fit(model, settings.rosenbrock_steps)
    error = np.abs(_point(model) - 1.0).max()
    assert error <= settings.rosenbrock_tol, f"{name}: |x - (1, 1)| = {error:.3g} on Rosenbrock"


@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_float16_parameter_keeps_its_dtype(name: str, settings: Conformance) -> None:
    model = _problem_model(settings, [1.0, 1.0], _quadratic, dtype="float16")
    _fit(model, 5, dtype="float16")
    point = model.layers[-1].point
    assert point.dtype == "float16"
    values = point.numpy()
    assert values.dtype == np.float16 and np.all(np.isfinite(values))
    assert not np.array_equal(values, np.ones(2, np.float16)), f"{name} did not move"


@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_config_round_trip(name: str, settings: Conformance) -> None:
    optimizer = settings.make()
    config = optimizer.get_config()
    rebuilt = type(optimizer).from_config(optimizer.get_config())
    assert type(rebuilt) is type(optimizer)
    assert rebuilt.get_config() == config


# Keras 3.15's TF backend calls np.array(variable, copy=False) while saving, which
# NumPy 2 reports as a DeprecationWarning from keras.src.backend.tensorflow.core.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_keras_file_round_trip(name: str, settings: Conformance, tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=settings.make(), loss="mse", jit_compile=False)
    if settings.needs_train_step:
        closure = pytest.importorskip(
            "kerasopt.training.closure", reason="kerasopt.training.closure is not written yet"
        )
        closure.enable_closure(model)
    rng = np.random.default_rng(0)
    batch_size = 8 if settings.full_batch else 4  # line searches need one full batch
    model.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), batch_size=batch_size, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    saved_state = [v.numpy() for v in model.optimizer.variables]
    loaded_state = [v.numpy() for v in loaded.optimizer.variables]
    assert len(loaded_state) == len(saved_state)
    for saved, restored in zip(saved_state, loaded_state, strict=True):
        np.testing.assert_array_equal(restored, saved)
