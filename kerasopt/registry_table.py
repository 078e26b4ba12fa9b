"""The signature table of every recipe component: what the Keras-free validator reads.

`kerasopt validate` must not import Keras, so it reads `kerasopt/registry_table.json`,
generated from the live registry (:mod:`kerasopt.registry`) by :func:`build_table`.
Regenerate it after adding a component with `python -m kerasopt.registry_table`; a test
fails while the committed table differs from the live registry.
:mod:`kerasopt.registry_cache` builds and caches the table of another installed Keras.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

from kerasopt.atomic import write_json
from kerasopt.compile_names import COMPILE_SHORTHANDS, KERAS_SHORT_NAMES, keras_get
from kerasopt.registry import (
    _DISPLAY,
    _REGISTRY,
    KINDS,
    canonical,
    keras_components,
    load_components,
)

TABLE_PATH = Path(__file__).with_name("registry_table.json")



@dataclasses.dataclass(frozen=True)
class Param:
    """One constructor argument as the validator sees it."""

    name: str
    required: bool
    default: Any = None


_JSONABLE = (str, int, float, bool, type(None))

# Arguments that `**kwargs` of a Keras base class accepts beyond its signature.
_BASE_EXTRAS = {"layer": ("input_shape", "input_dim", "batch_size", "batch_input_shape")}


def _jsonable_default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, _JSONABLE):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return repr(value)
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, _JSONABLE) for v in value):
        return list(value)
    return f"<{type(value).__name__}>"


_SIMPLE_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str", "None": "null"}


def _simple_type(annotation: Any) -> list[str] | None:
    """`["float", "null"]` for an annotation such as `float | None`; None unless every part is simple.

    The validator checks a recipe's argument values against it without importing the class.
    """
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    parts = [part.strip() for part in text.split("|")]
    if not all(part in _SIMPLE_TYPES for part in parts):
        return None
    return sorted({_SIMPLE_TYPES[part] for part in parts})


def signature_params(target: Any, kind: str) -> tuple[list[dict[str, Any]], bool]:
    """Collect constructor parameters, following `**kwargs` up the class hierarchy.

    Returns:
        The parameters, and whether arbitrary extra keywords are accepted.
    """
    params: dict[str, dict[str, Any]] = {}
    if inspect.isfunction(target):
        return [], False
    open_kwargs = True
    own = True  # only the class's own signature can make an argument required
    for klass in inspect.getmro(target):
        if "__init__" not in vars(klass) or klass is object:
            continue
        try:
            sig = inspect.signature(vars(klass)["__init__"])
        except (TypeError, ValueError):
            continue
        has_var_kw = False
        for p in list(sig.parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                has_var_kw = True
            elif p.kind is p.VAR_POSITIONAL:
                continue
            elif p.name not in params:
                params[p.name] = {
                    "name": p.name,
                    "required": own and p.default is inspect.Parameter.empty,
                    "default": _jsonable_default(p.default),
                }
                simple = _simple_type(p.annotation)
                if simple:
                    params[p.name]["type"] = simple
        own = False
        if not has_var_kw:
            open_kwargs = False
            break
    for extra in _BASE_EXTRAS.get(kind, ()):
        params.setdefault(extra, {"name": extra, "required": False, "default": None})
    # A class whose whole chain ends in **kwargs (Keras's backend Optimizer shim) is
    # validated against the parameters found; only plain-Python **kwargs sinks stay open.
    return list(params.values()), open_kwargs and not params


def summary_line(target: Any) -> str:
    """The first line of an object's docstring (the table's and `kerasopt list`'s summary)."""
    doc = inspect.getdoc(target) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def build_table() -> dict[str, Any]:
    """Build the signature table of every component (imports Keras)."""
    import keras

    load_components()
    table: dict[str, Any] = {"keras_version": keras.__version__, "kinds": {}}
    for kind in KINDS:
        entries: dict[str, Any] = {}
        for key, obj in sorted(keras_components(kind).items()):
            params, open_kwargs = signature_params(obj, kind)
            entries[canonical(key)] = {
                "name": key, "source": "keras", "params": params,
                "open_kwargs": open_kwargs, "summary": summary_line(obj),
            }
        if kind in ("loss", "metric"):
            _add_keras_names(kind, entries)
        for key, cls in sorted(_REGISTRY[kind].items()):
            params, open_kwargs = signature_params(cls, kind)
            shadowed = entries.get(key)
            if shadowed is not None and shadowed["source"] == "keras":
                entries["keras." + key] = dict(shadowed, name="keras." + shadowed["name"])
            entries[key] = {
                "name": _DISPLAY[kind][key], "source": "kerasopt",
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "params": params, "open_kwargs": open_kwargs, "summary": summary_line(cls),
            }
        table["kinds"][kind] = dict(sorted(entries.items()))
    return table


def _add_keras_names(kind: str, entries: dict[str, Any]) -> None:
    """Keras's loss or metric functions and short names, as far as `model.compile` accepts them."""
    import keras

    module = keras.losses if kind == "loss" else keras.metrics
    for attr in sorted(dir(module)):
        obj = getattr(module, attr)
        if attr.startswith("_") or not inspect.isfunction(obj) or attr in ("get", "serialize", "deserialize"):
            continue
        if keras_get(kind, attr) is None:
            continue  # public, but not a name compile accepts (keras.metrics.huber)
        entries.setdefault(canonical(attr), {
            "name": attr, "source": "keras", "params": [], "open_kwargs": False, "summary": summary_line(obj)})
    for short in KERAS_SHORT_NAMES:
        target = keras_get(kind, short)
        if target is None:
            continue
        target_type = target if inspect.isfunction(target) else type(target)
        params, open_kwargs = signature_params(target_type, kind)
        entries.setdefault(canonical(short), {
            "name": short, "source": "keras", "params": params, "open_kwargs": open_kwargs,
            "summary": f"Short for {target_type.__name__}."})
    for shorthand in COMPILE_SHORTHANDS[kind]:
        entries.setdefault(canonical(shorthand), {
            "name": shorthand, "source": "keras", "params": [], "open_kwargs": False,
            "summary": "Chosen by model.compile to match the labels (binary, categorical or sparse)."})


def write_table(path: Path = TABLE_PATH) -> Path:
    """Regenerate the committed signature table, atomically."""
    return write_json(path, build_table())


if __name__ == "__main__":
    # Run as `python -m kerasopt.registry_table`: this module is then `__main__`; the table is
    # built from the importable `kerasopt.registry` the components register into.
    print(f"wrote {write_table()}")
