"""Backend-neutral computations with every registered kerasopt component.

Each case builds something small from fixed NumPy numbers, runs it a few steps and returns
the numbers that came out (weights after `fit`, a schedule's values, an initializer's
invariants, the scalars a callback logged). The same function runs in the TensorFlow test
process and in a `KERAS_BACKEND=jax` subprocess (`tests/backends/_jax_conformance.py`);
`test_jax.py` compares the two. Nothing here may depend on the backend's random numbers:
weights come from `np.random.default_rng`, never from Keras initializers with a seed.

A component that refuses the backend (`kerasopt._backend.require_tensorflow`) yields
`{"refused": message}`; any other exception yields `{"error": ...}` so one broken component
does not hide the others.
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt import registry
from kerasopt._backend import UnsupportedBackendError
from tests.backends import schedule_cases

Case = Callable[[], list[float]]

RNG_SEED = 0
X = np.random.default_rng(RNG_SEED).normal(size=(8, 3)).astype("float32")
Y = np.random.default_rng(RNG_SEED + 1).normal(size=(8, 2)).astype("float32")


def fixed_weights(variables: list[Any], seed: int = RNG_SEED) -> None:
    """Give each variable values drawn from a NumPy generator (same on every backend)."""
    rng = np.random.default_rng(seed)
    for variable in variables:
        variable.assign(rng.uniform(-0.5, 0.5, size=tuple(variable.shape)).astype(variable.dtype))


def mlp(width: int = 4, outputs: int = 2) -> keras.Model:
    """A two-layer MLP (3 -> width -> outputs) with fixed weights."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width, activation="tanh"),
                              keras.layers.Dense(outputs)])
    fixed_weights(model.trainable_variables)
    return model


def flat(values: Any) -> list[float]:
    """Every number of a list of arrays, in order, as Python floats."""
    return [float(v) for array in values for v in np.ravel(np.asarray(array, dtype="float64"))]


def compile_options() -> dict[str, Any]:
    """XLA under JAX (Keras's default there); TensorFlow graphs without XLA, which trace faster."""
    return {"jit_compile": keras.backend.backend() == "jax"}


def weights_of(model: keras.Model) -> list[float]:
    return flat(v.numpy() for v in model.weights)


def run_case(case: Case) -> dict[str, Any]:
    """Run one case: its numbers, or the refusal message, or the unexpected error."""
    try:
        return {"values": case()}
    except UnsupportedBackendError as err:
        return {"refused": str(err)}
    except Exception as err:  # noqa: BLE001 - recorded and reported by the comparing test
        return {"error": f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-6)}"}


# ---------------------------------------------------------------------------
# Optimizers: a few steps of fit on the MLP, through Keras's own train step
# ---------------------------------------------------------------------------

def _optimizer_settings() -> dict[str, Any]:
    from tests.optimizers.test_conformance import SETTINGS

    return {key: settings for key, (_, settings) in SETTINGS.items()}


def _make_optimizer(name: str, settings: Any) -> Any:
    if name == "SWA":  # average from step 2, so the averaged weights are checked too
        from kerasopt.optimizers.swa import SWA

        return SWA(keras.optimizers.Adam(0.05), start_averaging=2, average_period=2)
    return settings.make()


def optimizer_case(name: str) -> Case:
    def case() -> list[float]:
        settings = _optimizer_settings()[registry.canonical(name)]
        optimizer = _make_optimizer(name, settings)
        model = mlp()
        model.compile(optimizer=optimizer, loss="mse", **compile_options())
        if settings.needs_train_step:
            from kerasopt.training import enable_closure

            enable_closure(model)
        batch_size = len(X) if settings.full_batch else 4
        history = model.fit(X, Y, batch_size=batch_size, epochs=3, shuffle=False, verbose=0)
        if hasattr(optimizer, "assign_average_vars"):
            optimizer.assign_average_vars(model.trainable_variables)
        return weights_of(model) + flat([history.history["loss"]])

    return case


# ---------------------------------------------------------------------------
# Initializers: invariants (their draws use the backend's random numbers)
# ---------------------------------------------------------------------------

def delta_orthogonal_case() -> list[float]:
    """Off-centre taps are zero and the centre tap is gain * an orthogonal matrix."""
    from kerasopt.initializers import DeltaOrthogonal

    found = []
    for shape, gain in (((3, 4, 4), 1.0), ((3, 3, 3, 5), 2.0)):
        kernel = np.asarray(DeltaOrthogonal(gain=gain, seed=1)(shape), dtype="float64")
        centre = tuple(k // 2 for k in shape[:-2])
        middle = kernel[centre]
        others = kernel.copy()
        others[centre] = 0.0
        small, large = sorted(middle.shape)
        gram = middle.T @ middle if middle.shape[0] >= middle.shape[1] else middle @ middle.T
        found += [float(np.abs(others).max()),
                  float(np.abs(gram - gain**2 * np.eye(small)).max()), float(large)]
    return found


def lsuv_case() -> list[float]:
    """`lsuv_initialize` without the orthonormal draw is a deterministic rescaling of fixed weights."""
    from kerasopt.initializers import LSUV, lsuv_initialize

    model = mlp(width=6)
    lsuv_initialize(model, X, tol_var=0.05, max_iter=5, orthonormal=False)
    kernel = np.asarray(LSUV(seed=1)((6, 4)), dtype="float64")  # the marker's orthonormal draw
    return weights_of(model) + [float(np.abs(kernel.T @ kernel - np.eye(4)).max())]


def torch_default_case() -> list[float]:
    """PyTorch's default draws stay within 1/sqrt(fan_in) with the uniform variance bound**2 / 3."""
    from kerasopt.initializers import TorchDefault, TorchDefaultBias

    found = []
    for init, shape, fan_in in ((TorchDefault(seed=1), (3, 25, 400), 75), (TorchDefaultBias(fan_in=5, seed=1), (30000,), 5)):
        draw = np.asarray(init(shape), dtype="float64")
        bound = fan_in**-0.5
        found += [float(np.abs(draw).max() <= bound), round(float(draw.var() / (bound**2 / 3)), 1)]
    return found


INITIALIZER_CASES: dict[str, Case] = {"DeltaOrthogonal": delta_orthogonal_case, "LSUV": lsuv_case,
                                      "TorchDefault": torch_default_case, "TorchDefaultBias": torch_default_case}


# ---------------------------------------------------------------------------
# Callbacks: fit with the callback, then the weights, history and anything it wrote
# ---------------------------------------------------------------------------

def tensorboard_scalars(folder: Path) -> list[float]:
    """Every scalar (tag-sorted, then by step) in the event files below `folder`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values: list[float] = []
    for run in sorted(p for p in folder.rglob("*") if p.is_dir() and any(p.glob("events.*"))):
        events = EventAccumulator(str(run), size_guidance={"tensors": 0, "scalars": 0})
        events.Reload()
        for tag in sorted(events.Tags()["tensors"]):
            if tag.startswith(("epoch_", "batch_", "learning_rate", "overfitting")) or "lr" in tag:
                values += [float(np.asarray(_tensor(e.tensor_proto))) for e in events.Tensors(tag)]
    return values


def _tensor(proto: Any) -> Any:
    from tensorboard.util.tensor_util import make_ndarray

    return make_ndarray(proto)


def callback_case(make: Callable[[Path], Any], epochs: int = 3, learning_rate: float = 0.1,
                  extra: Callable[[Any], list[float]] | None = None,
                  scalars: bool = False) -> Case:
    def case() -> list[float]:
        with tempfile.TemporaryDirectory() as folder:
            callback = make(Path(folder))
            model = mlp()
            model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse", **compile_options())
            history = model.fit(X, Y, batch_size=4, epochs=epochs, shuffle=False, verbose=0,
                                validation_data=(X[:4], Y[:4]), callbacks=[callback])
            found = weights_of(model) + flat([history.history["loss"]])
            found += extra(callback) if extra else []
            return found + (tensorboard_scalars(Path(folder)) if scalars else [])

    return case


def _gradient_monitor(folder: Path) -> Any:
    from kerasopt.callbacks import GradientMonitor

    monitor = GradientMonitor(every_n_steps=2)
    monitor.set_probe(X, Y)
    return monitor


def _callback_cases() -> dict[str, Case]:
    from kerasopt import callbacks as cb

    def pruned() -> list[float]:
        from kerasopt.compression import pruning

        model = pruning.prune_low_magnitude(mlp(), pruning.ConstantSparsity(0.5, 0, frequency=1))
        model.compile(optimizer="sgd", loss="mse", **compile_options())
        model.fit(X, Y, batch_size=4, epochs=1, verbose=0, callbacks=[pruning.UpdatePruning()])
        return weights_of(model)

    return {
        "BestWeights": callback_case(lambda d: cb.BestWeights(monitor="val_loss"), learning_rate=0.8),
        "DivergenceRecovery": callback_case(
            lambda d: cb.DivergenceRecovery(snapshot_every_n_steps=2, explosion_factor=2.0),
            learning_rate=2.0, extra=lambda c: [float(c.retries), float(c.lr_multiplier)]),
        "EarlyStopping": callback_case(
            lambda d: cb.EarlyStopping(monitor="val_loss", min_delta=10.0, restore_best_weights=True),
            epochs=4, extra=lambda c: [float(c.stopped_epoch), float(c.best_epoch)]),
        "GradientMonitor": callback_case(_gradient_monitor),
        "LearningRateLogger": callback_case(
            lambda d: cb.LearningRateLogger(log_dir=str(d), every_n_steps=2), scalars=True),
        "LRFinder": callback_case(lambda d: cb.LRFinder(min_lr=1e-3, max_lr=1.0, num_steps=5),
                                  extra=lambda c: flat([c.lrs, c.losses])),
        "OverfittingMonitor": callback_case(
            lambda d: cb.OverfittingMonitor(log_dir=str(d), max_gap=100.0), scalars=True),
        "ProgressBar": callback_case(lambda d: cb.ProgressBar(interactive=False)),
        "TensorBoard": callback_case(lambda d: cb.TensorBoard(log_dir=str(d), update_freq=1),
                                     scalars=True),
        "TimeStopping": callback_case(lambda d: cb.TimeStopping(seconds=1e-6), epochs=3),
        "UpdatePruning": pruned,
    }


# ---------------------------------------------------------------------------
# Compression layers and distillation strategies
# ---------------------------------------------------------------------------

def _quantized(preserve_sparsity: bool) -> Case:
    def case() -> list[float]:
        from kerasopt.compression.quantization import calibrate_ranges, quantize_model

        model = quantize_model(mlp(), preserve_sparsity=preserve_sparsity)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", **compile_options())
        model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        trained = weights_of(model)
        calibrate_ranges(model, X, batch_size=8)
        return trained + weights_of(model)

    return case


def _activation_quantizer() -> list[float]:
    from kerasopt.compression.quantization import ActivationQuantizer

    layer = ActivationQuantizer(ema_decay=0.5)  # first batch's range, then a moving average, then frozen
    return flat([layer(X, training=True), layer(2 * X, training=True), layer(3 * X)])


def _distilled(features: bool) -> Case:
    def case() -> list[float]:
        from kerasopt.compression.distillation import distill

        teacher, student = mlp(width=8), mlp(width=4)
        pairs = [(student.layers[0].name, teacher.layers[0].name)] if features else None
        distiller = distill(student, teacher, temperature=2.0, alpha=0.5, features=pairs)
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", **compile_options())
        fixed_weights([v for a in getattr(distiller, "adapters", []) for v in a.trainable_variables],
                      seed=RNG_SEED + 7)
        history = distiller.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return weights_of(student) + flat([history.history["loss"]])

    return case


def _clustered() -> list[float]:
    from kerasopt.compression.clustering import cluster_weights

    model = cluster_weights(mlp(), 3)
    model.compile(optimizer="sgd", loss="mse", **compile_options())
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    return weights_of(model)


def _pruned_layer() -> list[float]:
    from kerasopt.compression.pruning import PruneLowMagnitude

    layer = PruneLowMagnitude(keras.layers.Dense(2))
    return flat([layer(X)])


def _closure() -> list[float]:
    from kerasopt.training import enable_closure

    model = mlp()
    model.compile(optimizer="sgd", loss="mse", **compile_options())
    enable_closure(model)
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    return weights_of(model)


_LOGITS, _FEATURES = _distilled(features=False), _distilled(features=True)

def _stochastic_depth() -> list[float]:
    from kerasopt.models.stochastic_depth import StochasticDepth

    layer = StochasticDepth(0.5, seed=0)  # the identity at inference; training draws backend numbers
    return flat([layer(X), layer(X, training=False)])


LAYER_CASES: dict[str, Case] = {
    "QuantizeWrapper": _quantized(preserve_sparsity=False),
    "QuantizeWrapper(preserve_sparsity=True)": _quantized(preserve_sparsity=True),
    "ActivationQuantizer": _activation_quantizer,
    "Distiller": _LOGITS,
    "FeatureAdapter": _FEATURES,
    "ClusteredLayer": _clustered,
    "PruneLowMagnitude": _pruned_layer,
    "StochasticDepth": _stochastic_depth,
}
STRATEGY_CASES: dict[str, Case] = {
    "LogitsDistillation": _LOGITS,
    "FeatureDistillation": _FEATURES,
}
OTHER_CASES: dict[str, Case] = {"training.enable_closure": _closure}


def registered(kind: str) -> list[str]:
    """The class names of kerasopt's own components of a kind (aliases folded)."""
    registry.load_components()
    return sorted({cls.__name__ for cls in registry._REGISTRY[kind].values()})


def all_cases() -> dict[str, Case]:
    """Every case, keyed `kind/name`; a registered component without a case gets a failing one."""
    found: dict[str, Case] = {}
    tables = {"initializer": INITIALIZER_CASES, "callback": _callback_cases(), "layer": LAYER_CASES,
              "distillation_strategy": STRATEGY_CASES, "schedule": schedule_cases.SCHEDULE_CASES,
              "pruning_schedule": schedule_cases.PRUNING_SCHEDULE_CASES}
    for name in registered("optimizer"):
        found[f"optimizer/{name}"] = optimizer_case(name)
    for kind, table in tables.items():
        for name in registered(kind):
            if name not in table:
                raise KeyError(f"The {kind} {name} has no case in tests/backends: add one.")
        found.update({f"{kind}/{name}": case for name, case in table.items()})
    found.update({f"other/{name}": case for name, case in OTHER_CASES.items()})
    return found


def run_all(skip: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Run every case except `skip` under the current backend; a case shared by two names runs once."""
    done: dict[int, dict[str, Any]] = {}
    results = {}
    for name, case in sorted(all_cases().items()):
        if name not in skip:
            results[name] = done.setdefault(id(case), run_case(case))
    return results
