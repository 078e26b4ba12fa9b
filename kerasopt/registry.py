"""The one table of recipe components: registered name -> class.

Every kerasopt component is registered once, with :func:`register`. The decorator
adds the class to the recipe component table *and* registers it with
``keras.saving.register_keras_serializable(package="kerasopt")`` so ``.keras`` files
that contain it load with ``safe_mode=True``.

Keras's own optimizers, schedules, initializers, callbacks, losses, metrics,
activations, regularizers, constraints and layers are reachable by their Keras
names as well (``adam``, ``Adam``, ``early_stopping``...). kerasopt's own components
take precedence; the Keras class of the same name stays reachable as
``keras.<Name>`` (for example ``keras.EarlyStopping``).

Names are matched case-insensitively and ignoring ``_`` and ``-``, so ``RAdam``,
``radam`` and ``r_adam`` are the same name.

The recipe validator must not import Keras (``kerasopt validate`` stays fast), so it
reads a signature table generated from this registry by :mod:`kerasopt.registry_table`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kerasopt.compile_names import KERAS_SHORT_NAMES, keras_get


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of component: everything the registry, the loader and the validator know of it.

    Attributes:
        name: The kind's name (`"optimizer"`).
        keras_module: Where Keras keeps its own components of this kind, as a dotted path
            below `keras` (`"optimizers.schedules"`), or None for kinds only kerasopt has.
        keras_base: The Keras base class (dotted path below `keras`) a Keras component of
            this kind derives from; None for activations (plain functions).
        keras_excluded: Keras names that are abstract bases or helpers, not components.
        arguments: Constructor-argument names that hold a component of this kind
            (`learning_rate` holds a schedule).
        suffix: Whether an argument ending in `_<name>` holds one too (`kernel_initializer`).
        by_string: Whether such an argument may name the component with a bare string.
    """

    name: str
    keras_module: str | None = None
    keras_base: str | None = None
    keras_excluded: frozenset[str] = frozenset()
    arguments: tuple[str, ...] = ()
    suffix: bool = False
    by_string: bool = False


KIND_TABLE: tuple[Kind, ...] = (
    Kind("optimizer", "optimizers", "optimizers.Optimizer",
         frozenset({"Optimizer", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"}),
         arguments=("optimizer",), suffix=True, by_string=True),
    # Before `schedule`: `pruning_schedule` must not be read as a learning-rate schedule.
    Kind("pruning_schedule", arguments=("pruning_schedule",)),
    Kind("schedule", "optimizers.schedules", "optimizers.schedules.LearningRateSchedule",
         frozenset({"LearningRateSchedule"}),
         arguments=("learning_rate", "schedule", "weight_decay", "temperature", "alpha"), suffix=True),
    Kind("distillation_strategy", arguments=("strategies",)),
    Kind("initializer", "initializers", "initializers.Initializer", frozenset({"Initializer"}),
         arguments=("initializer",), suffix=True, by_string=True),
    Kind("callback", "callbacks", "callbacks.Callback",
         frozenset({"Callback", "CallbackList", "History", "LambdaCallback", "RemoteMonitor",
                    "ProgbarLogger", "OrbaxCheckpoint"})),
    Kind("layer", "layers", "layers.Layer",
         frozenset({"Layer", "InputLayer", "Lambda", "Wrapper", "InputSpec", "TFSMLayer",
                    "JaxLayer", "FlaxLayer", "TorchModuleWrapper"}),
         arguments=("layer",), suffix=True),
    Kind("loss", "losses", "losses.Loss", frozenset({"Loss", "LossFunctionWrapper"}),
         arguments=("loss",)),
    Kind("metric", "metrics", "metrics.Metric", frozenset({"Metric", "MeanMetricWrapper", "Reduction"})),
    Kind("activation", "activations", None, frozenset({"get", "serialize", "deserialize"}),
         arguments=("activation",), suffix=True, by_string=True),
    Kind("regularizer", "regularizers", "regularizers.Regularizer", frozenset({"Regularizer"}),
         arguments=("regularizer",), suffix=True, by_string=True),
    Kind("constraint", "constraints", "constraints.Constraint", frozenset({"Constraint"}),
         arguments=("constraint",), suffix=True, by_string=True),
)
"""Every kind of component a recipe can name; adding a kind is one entry here."""

KINDS: tuple[str, ...] = tuple(k.name for k in KIND_TABLE)
"""The names of :data:`KIND_TABLE`."""

_KIND = {k.name: k for k in KIND_TABLE}


def kind_info(kind: str) -> Kind:
    """The :class:`Kind` entry of a kind's name."""
    _check_kind(kind)
    return _KIND[kind]

# Packages whose modules hold registered components; every module below them is
# imported when the whole registry is needed (discovery, not a hand-kept list).
COMPONENT_PACKAGES: tuple[str, ...] = (
    "kerasopt.optimizers",
    "kerasopt.initializers",
    "kerasopt.schedules",
    "kerasopt.callbacks",
    "kerasopt.compression",
    "kerasopt.metrics",
    "kerasopt.losses",
    "kerasopt.models",
)


T = TypeVar("T")

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_DISPLAY: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}


def canonical(name: str) -> str:
    """Return the lookup key of a component name: lowercase, without `_` and `-`."""
    return re.sub(r"[_\-]", "", name).lower()


def snake_case(name: str) -> str:
    """Return the snake_case form of a CamelCase class name (`RAdam` -> `r_adam`)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown component kind {kind!r}. Allowed kinds: {', '.join(KINDS)}.")


def register(kind: str, name: str | None = None, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
    """Register a kerasopt component under its recipe name and with Keras serialization.

    Args:
        kind: One of :data:`KINDS`.
        name: The recipe name. Defaults to the class name.
        aliases: Further names that resolve to the same class (e.g. `RAdam`).

    Returns:
        A class decorator that returns the class unchanged.

    Raises:
        ValueError: If `kind` is unknown or a name is already taken by another class.

    Example:
        ```python
        @register("optimizer", aliases=["RAdam"])
        class RectifiedAdam(keras.optimizers.Optimizer):
            ...
        ```
    """
    _check_kind(kind)

    def decorator(cls: T) -> T:
        import keras

        display = name or cls.__name__  # type: ignore[attr-defined]
        keras.saving.register_keras_serializable(package="kerasopt", name=cls.__name__)(cls)  # type: ignore[attr-defined]
        for label in (display, *aliases):
            key = canonical(label)
            existing = _REGISTRY[kind].get(key)
            if existing is not None and existing.__qualname__ != cls.__qualname__:  # type: ignore[attr-defined]
                raise ValueError(
                    f"The {kind} name {label!r} is already registered to "
                    f"{existing.__module__}.{existing.__qualname__}; "
                    f"choose another name for {cls.__module__}.{cls.__qualname__}."  # type: ignore[attr-defined]
                )
            _REGISTRY[kind][key] = cls  # type: ignore[assignment]
            _DISPLAY[kind].setdefault(key, label)  # `RAdam` and `r_adam` display as written first
        return cls

    return decorator


_loaded = False


def load_components() -> None:
    """Import every module of the component packages, so all decorators have run (once)."""
    global _loaded
    if _loaded:
        return
    for package_name in COMPONENT_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            importlib.import_module(info.name)
    _loaded = True


# ---------------------------------------------------------------------------
# Keras's own components
# ---------------------------------------------------------------------------

def _keras_attr(dotted: str) -> Any:
    import keras

    obj: Any = keras
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def keras_components(kind: str) -> dict[str, Any]:
    """Return Keras's own components of a kind, keyed by public name."""
    info = kind_info(kind)
    found: dict[str, Any] = {}
    if info.keras_module is None:
        return found
    base = _keras_attr(info.keras_base) if info.keras_base else None
    for module in (_keras_attr(info.keras_module),):
        for attr in sorted(dir(module)):
            if attr.startswith("_") or attr in info.keras_excluded:
                continue
            obj = getattr(module, attr)
            if kind == "activation":
                if inspect.isfunction(obj):
                    found[attr] = obj
            elif inspect.isclass(obj) and base is not None and issubclass(obj, base):
                found[attr] = obj
            elif kind == "loss" and inspect.isfunction(obj):
                continue
    return found


def get(kind: str, name: str) -> Any:
    """Return the class (or Keras activation function) registered under `name`.

    kerasopt's components win over Keras's; `keras.<Name>` forces the Keras one.

    Raises:
        KeyError: With the closest names, if `name` is not a known component.
    """
    _check_kind(kind)
    load_components()
    if name.startswith("keras."):
        return _keras_lookup(kind, name[len("keras."):])
    found = _REGISTRY[kind].get(canonical(name))
    if found is not None:
        return found
    return _keras_lookup(kind, name)


def is_registered(kind: str, name: str) -> bool:
    """True when `name` is one of kerasopt's own components of this kind (not Keras's)."""
    _check_kind(kind)
    load_components()
    return canonical(name) in _REGISTRY[kind]


def _keras_lookup(kind: str, name: str) -> Any:
    table = {canonical(k): v for k, v in keras_components(kind).items()}
    if kind in ("loss", "metric"):
        import keras

        module = keras.losses if kind == "loss" else keras.metrics
        table.update({canonical(k): getattr(module, k) for k in dir(module)
                      if not k.startswith("_") and inspect.isfunction(getattr(module, k))})
    found = table.get(canonical(name))
    if found is None and kind in ("loss", "metric"):
        short = {canonical(s): s for s in KERAS_SHORT_NAMES}.get(canonical(name))  # `mse`, `bce`...
        target = keras_get(kind, short) if short is not None else None
        if target is not None:
            found = target if inspect.isfunction(target) else type(target)
    if found is None:
        import difflib

        close = difflib.get_close_matches(canonical(name), list(table) + list(_REGISTRY[kind]), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"Unknown {kind} {name!r}.{hint}")
    return found


def build(kind: str, spec: str | dict[str, Any], **extra: Any) -> Any:
    """Instantiate a component from a recipe spec: a name, or a dict with `type` and arguments.

    Nested specs (a dict with a `type` key, as an argument) are built too, with the
    kind inferred from the argument name (`learning_rate` -> schedule, `optimizer`
    -> optimizer, `*_initializer` -> initializer, `*_regularizer` -> regularizer,
    `*_constraint` -> constraint). A `*_initializer`, `*_regularizer` or `*_constraint`
    argument may also name a kerasopt component by a string (`"TorchDefault"`), as it
    names a Keras one (`"he_normal"`, which Keras resolves itself).

    Args:
        kind: One of :data:`KINDS`.
        spec: `"adam"` or `{"type": "adam", "learning_rate": 0.01}`.
        **extra: Arguments added by the caller (not from the recipe).

    Returns:
        The constructed object; for an activation, the function itself.
    """
    if isinstance(spec, str):
        name, args = spec, {}
    else:
        args = dict(spec)
        name = args.pop("type")
    target = get(kind, name)
    if inspect.isfunction(target):
        if args or extra:
            raise ValueError(f"The {kind} {name!r} is a function and takes no arguments; "
                             f"received {sorted({**args, **extra})}.")
        return target
    kwargs = {key: _build_nested(key, value) for key, value in args.items()}
    kwargs.update(extra)
    return target(**kwargs)


def nested_kind(argument: str) -> str | None:
    """The component kind an argument of this name holds, if any (first match in :data:`KIND_TABLE`)."""
    for info in KIND_TABLE:
        if argument in info.arguments:
            return info.name
    for info in KIND_TABLE:
        if info.suffix and argument.endswith("_" + info.name):
            return info.name
    return None


_BY_NAME_IN_ARGUMENTS = ("initializer", "regularizer", "constraint")
"""Kinds whose kerasopt components an argument may name by a string (`kernel_initializer: TorchDefault`)."""


def _build_nested(argument: str, value: Any) -> Any:
    kind = nested_kind(argument)
    if isinstance(value, str) and kind in _BY_NAME_IN_ARGUMENTS:
        # Keras resolves its own names itself; a kerasopt one it would not know.
        return build(kind, value) if is_registered(kind, value) else value
    if isinstance(value, dict) and "type" in value:
        if kind is None:
            raise ValueError(
                f"Argument {argument!r} holds a component spec ({value!r}), but kerasopt "
                "cannot tell which kind of component it is."
            )
        return build(kind, value)
    if isinstance(value, list):
        return [_build_nested(argument, v) for v in value]
    return value
