"""Walk a model's layers and select the ones a technique compresses: one rule for all of them.

Pruning, clustering, QAT, distillation's feature layers and the TFLite export all walk and
select layers here.

**Walk** (:func:`walk`): every layer that is not a model, in `model.layers` order, nested
Sequential/Functional models walked into where they stand, input layers left out. Each
layer has a *qualified name*: the names of the models it is nested in and its own, joined
with `/` (`"backbone/conv1d_2"`); a top-level layer's qualified name is its name.

**Select** (:func:`select`):

- `layers`: fnmatch patterns (`*`, `?`, `[...]`, case-sensitive), each matched against a
  layer's name *and* its qualified name (`"conv1d*"` matches `backbone/conv1d_2`, and so
  does `"backbone/*"`).
- `layer_types`: layer class names (`"Conv1D"`; Keras aliases such as `"Convolution1D"`
  name the same class) or classes, matched by exact class, not subclass.
- Given both, a layer must match both. Given neither, every layer the technique supports.
- A pattern that matches no layer is an error naming it, the model's layers and the close
  ones (did-you-mean); so is a type that is no Keras or registered layer class, or one the
  technique cannot compress.
- A layer the technique cannot compress is skipped when a wildcard pattern selects it
  (`"*"` leaves `Flatten` alone), but a pattern that selects *only* such layers is an
  error, and so is an exact name (a pattern without wildcards) naming one.

**Support** (:func:`is_supported`): a layer is supported when

1. its **exact** type is one of the technique's built-in types (`type(layer) in types`,
   not `isinstance`): a subclass of `Dense` may compute with its kernel differently (its
   own `call`, another weight), so compressing its `kernel` could be silently wrong; or
2. it **opts in** with the technique's method, tensorflow-model-optimization's protocols:
   `get_prunable_weights()` for pruning (tfmot's `PrunableLayer`) and
   `get_clusterable_weights()` for clustering (tfmot's `ClusterableLayer`, which returns
   `(name, variable)` pairs; plain variables are accepted too). kerasopt compresses one
   weight per layer, so the method must return exactly one floating-point variable of the
   built layer. QAT's opt-in is `quantizable_as()`, returning the built-in class whose
   computation the layer's `call` performs (see
   :class:`kerasopt.compression.quantization.QuantizeWrapper`).

This is tfmot's rule (its registries match `layer.__class__` exactly and custom layers opt
in), except that tfmot prunes every weight the method returns.

Example:
    >>> import keras
    >>> inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="conv1d_2")],
    ...                          name="backbone")
    >>> model = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="head")])
    >>> [name for name, _ in walk(model)]
    ['backbone/conv1d_2', 'head']
    >>> every = Support("kept", (keras.layers.Dense,), None, str)
    >>> [name for name, _ in select(model, ["conv1d*"], None, every)]
    ['backbone/conv1d_2']
    >>> class MyDense(keras.layers.Dense):
    ...     pass
    >>> is_supported(MyDense(2), (keras.layers.Dense,), "get_prunable_weights")
    False
    >>> class Prunable(MyDense):
    ...     def get_prunable_weights(self):
    ...         return [self.kernel]
    >>> is_supported(Prunable(2), (keras.layers.Dense,), "get_prunable_weights")
    True
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras

from kerasopt.suggestions import did_you_mean

PRUNING_OPT_IN = "get_prunable_weights"
"""The method a custom layer defines to be pruned (tfmot's `PrunableLayer`)."""

CLUSTERING_OPT_IN = "get_clusterable_weights"
"""The method a custom layer defines to be clustered (tfmot's `ClusterableLayer`)."""

QUANTIZATION_OPT_IN = "quantizable_as"
"""The method a custom layer defines to be quantized: the built-in class it computes as."""

_WILDCARDS = frozenset("*?[")


def walk(model: Any) -> list[tuple[str, Any]]:
    """`(qualified name, layer)` of every layer of `model` that is not a model, nested ones walked into.

    Input layers are left out; a layer shared by several models is listed once, where it
    is first met.

    Args:
        model: A Keras model (any layer with `layers`).

    Returns:
        The layers in `model.layers` order, each nested model's layers where it stands.
    """
    found: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def visit(container: Any, prefix: str) -> None:
        for layer in getattr(container, "layers", []):
            if isinstance(layer, keras.layers.InputLayer) or id(layer) in seen:
                continue
            seen.add(id(layer))
            if isinstance(layer, keras.Model):
                visit(layer, f"{prefix}{layer.name}/")
            else:
                found.append((f"{prefix}{layer.name}", layer))

    visit(model, "")
    return found


def matches(qualified_name: str, layer: Any, patterns: Iterable[str]) -> bool:
    """Whether a layer's own or qualified name matches one of the fnmatch `patterns`."""
    return any(fnmatch.fnmatchcase(layer.name, p) or fnmatch.fnmatchcase(qualified_name, p)
               for p in patterns)


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = did_you_mean(value, choices)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def check_names(arg: str, value: Any) -> list[str] | None:
    """`value` as a list of non-empty strings (classes become their names), or None.

    Raises:
        ValueError: Naming `arg` and the value, unless it is None or a non-empty list of
            non-empty strings (or, for `layer_types`, classes).
    """
    if value is None:
        return None
    if isinstance(value, (str, type)) or not isinstance(value, Iterable):
        raise ValueError(f"`{arg}` must be None or a non-empty list of non-empty strings. "
                         f"Received: {arg}={value!r}")
    names = [v.__name__ if isinstance(v, type) and arg == "layer_types" else v for v in value]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"`{arg}` must be None or a non-empty list of non-empty strings. "
                         f"Received: {arg}={value!r}")
    return names


def layer_classes() -> dict[str, type]:
    """Every class `layer_types` may name: Keras's layers (aliases included) and registered ones
    (kerasopt's, and any `keras.saving.register_keras_serializable` class)."""
    from kerasopt import registry

    registry.load_components()
    found = dict(registry.keras_components("layer"))
    for obj in keras.saving.get_custom_objects().values():
        if isinstance(obj, type) and issubclass(obj, keras.layers.Layer):
            found.setdefault(obj.__name__, obj)
    return found


@dataclasses.dataclass(frozen=True)
class Support:
    """What one technique can compress: its built-in types and its opt-in method.

    Attributes:
        verb: How messages say it (`"pruned"`, `"clustered"`, `"quantized"`).
        types: The built-in layer classes, matched by exact type.
        opt_in: The method a custom layer defines to opt in, or None.
        describe: `fn(layer) -> message` for a layer that cannot be compressed.
    """

    verb: str
    types: tuple[type, ...]
    opt_in: str | None
    describe: Callable[[Any], str]

    def supports(self, layer: Any) -> bool:
        """Whether the technique can compress `layer`."""
        return is_supported(layer, self.types, self.opt_in)

    def supports_class(self, cls: type) -> bool:
        """Whether the technique can compress layers of class `cls`."""
        return cls in self.types or opts_in(cls, self.opt_in)

    def listing(self) -> str:
        """The supported types (and the opt-in), for messages."""
        opt_in = f", or a layer with a `{self.opt_in}()` method" if self.opt_in else ""
        return ", ".join(t.__name__ for t in self.types) + opt_in


def _classes(type_names: list[str], given: Sequence[Any], support: Support) -> list[type]:
    """The classes `layer_types` names, each a layer class the technique supports."""
    known = layer_classes() if any(not isinstance(v, type) for v in given) else {}
    classes = []
    for name, value in zip(type_names, given, strict=True):
        cls = value if isinstance(value, type) else known.get(name)
        if cls is None:
            raise ValueError(f"`layer_types` holds {name!r}, which is not a Keras or registered "
                             f"layer class.{_suggest(name, known)} Received: layer_types={list(given)!r}")
        if not support.supports_class(cls):
            raise ValueError(f"`layer_types` holds {name!r}, which cannot be {support.verb}. Supported "
                             f"layer types: {support.listing()}. Received: layer_types={list(given)!r}")
        classes.append(cls)
    return classes


def select(model: Any, layers: Sequence[str] | None, layer_types: Sequence[Any] | None,
           support: Support) -> list[tuple[str, Any]]:
    """The `(qualified name, layer)` pairs of `model` that `layers` and `layer_types` select.

    See the module docstring for the rule.

    Args:
        model: The model to select from.
        layers: fnmatch patterns of layer names or qualified names, or None for all.
        layer_types: Layer class names or classes, or None for all.
        support: What the technique can compress.

    Returns:
        The selected layers, in :func:`walk` order; possibly empty (the caller says
        what "nothing selected" means for its technique).

    Raises:
        ValueError: For a bad argument, a type that is no layer class or that the technique
            cannot compress, a pattern that matches no layer or only layers the technique
            cannot compress, or an exact name of such a layer.
    """
    patterns = check_names("layers", layers)
    type_names = check_names("layer_types", layer_types)
    classes = _classes(type_names, list(layer_types or ()), support) if type_names else []
    everything = walk(model)
    typed = [(q, layer) for q, layer in everything if not classes or type(layer) in classes]
    names = [q for q, _ in everything]
    for pattern in patterns or ():
        matched = [(q, layer) for q, layer in typed if matches(q, layer, [pattern])]
        if not any(matches(q, layer, [pattern]) for q, layer in everything):
            raise ValueError(f"`layers` pattern {pattern!r} matches no layer. The model's layers: "
                             f"{', '.join(names)}.{_suggest(pattern, names)}")
        refused = [(q, layer) for q, layer in matched if not support.supports(layer)]
        if refused and (_WILDCARDS.isdisjoint(pattern) or len(refused) == len(matched)):
            if len(matched) > 1:
                raise ValueError(f"`layers` pattern {pattern!r} selects only layers that cannot be "
                                 f"{support.verb}: {', '.join(q for q, _ in refused)}. "
                                 f"{support.describe(refused[0][1])}")
            raise ValueError(support.describe(refused[0][1]))
    return [(q, layer) for q, layer in typed
            if (patterns is None or matches(q, layer, patterns)) and support.supports(layer)]


def opts_in(layer: Any, method: str | None) -> bool:
    """Whether `layer` defines the opt-in `method` (None: the technique has no opt-in)."""
    return method is not None and callable(getattr(layer, method, None))


def is_supported(layer: Any, types: Sequence[type], method: str | None = None) -> bool:
    """Whether `layer` is of one of `types` exactly, or opts in with `method`."""
    return type(layer) in tuple(types) or opts_in(layer, method)


def opted_in_weight(layer: Any, method: str) -> Any:
    """The one variable a built, opted-in layer returns from `method`.

    Raises:
        ValueError: Naming the layer, the method and what it returned, unless that is
            exactly one floating-point variable (or one `(name, variable)` pair).
    """
    returned = list(getattr(layer, method)())
    weights = [item[1] if isinstance(item, (tuple, list)) and len(item) == 2 else item
               for item in returned]
    if len(weights) != 1 or not isinstance(weights[0], keras.Variable) or (
            "float" not in str(weights[0].dtype)):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__qualname__}) opts in with `{method}()`, "
            f"which must return exactly one floating-point variable of the built layer (kerasopt "
            f"compresses one weight per layer). Received: {returned!r}")
    return weights[0]


def type_description(layer: Any) -> str:
    """`module.Class` of a layer, for messages."""
    return f"{type(layer).__module__}.{type(layer).__qualname__}"
