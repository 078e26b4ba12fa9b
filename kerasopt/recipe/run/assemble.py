"""Turn a stage's validated `training:` settings into Keras objects: optimizer, loss, metrics, callbacks."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

from kerasopt import registry
from kerasopt.compile_names import COMPILE_SHORTHANDS, keras_get
from kerasopt.recipe.format.fields import is_duration, to_steps
from kerasopt.recipe.format.schema_training import SMOOTHING_LOSSES, Training
from kerasopt.registry_cache import load_table


@dataclasses.dataclass(frozen=True)
class StagePlan:
    """How long one stage trains.

    Attributes:
        epochs: Epochs to pass to `fit`.
        steps_per_epoch: Batches per epoch.
        total_steps: Optimizer steps of the whole stage (fit stops exactly there).
    """

    epochs: int
    steps_per_epoch: int
    total_steps: int


def plan_stage(training: Training, steps_per_epoch: int) -> StagePlan:
    """Epochs and total steps of a stage, from `epochs` or `steps`."""
    unit, amount = training.length()
    if unit == "steps":
        return StagePlan(math.ceil(amount / steps_per_epoch), steps_per_epoch, amount)
    return StagePlan(amount, steps_per_epoch, amount * steps_per_epoch)


def resolve_durations(spec: Any, plan: StagePlan) -> Any:
    """Replace duration strings (`'2ep'`, `'500ba'`, `'0.1dur'`) in a component spec by step counts."""
    if isinstance(spec, dict):
        return {k: resolve_durations(v, plan) for k, v in spec.items()}
    if isinstance(spec, list):
        return [resolve_durations(v, plan) for v in spec]
    if is_duration(spec):
        return to_steps(spec, steps_per_epoch=plan.steps_per_epoch, total_steps=plan.total_steps)
    return spec


def keras_argument(kind: str, spec: dict[str, Any]) -> Any:
    """A loss or metric as `compile` takes it.

    A bare Keras name stays a string, so Keras's own resolution applies (`"accuracy"`
    becomes sparse or categorical accuracy to match the loss); anything with
    arguments, or registered by kerasopt, is built from the registry.
    """
    name = spec["type"]
    if len(spec) == 1 and not registry.is_registered(kind, name):
        return compile_argument(kind, name)
    if kind == "metric" and "name" not in spec:
        # Named as written, as compile names `metrics=["auc"]`: Keras would number a second
        # instance in the process (`precision_1`), and metrics.json's keys would follow.
        spec = {**spec, "name": name}
    return registry.build(kind, spec)


def training_loss(training: Training, output: Any) -> Any:
    """The stage's loss as `compile` takes it, label-smoothed when `training.label_smoothing` is set.

    Without smoothing: the recipe's loss, else the data's default (`output.keras_loss()`).
    With it: the loss's Keras class built with `label_smoothing` (categorical, binary and
    their focal forms), or `SmoothedSparseCategoricalCrossentropy` for integer labels.

    Args:
        training: The stage's settings.
        output: The data's `OutputSpec` (default loss, whether the head outputs logits).
    """
    smoothing = smoothing_loss(training, output)
    if smoothing is None:
        return keras_argument("loss", training.loss) if training.loss else output.keras_loss()
    spec = dict(training.loss) if training.loss else {
        "type": output.loss, **({"from_logits": True} if output.from_logits else {})}
    if registry.is_registered("loss", smoothing):
        return registry.build("loss", {**spec, "type": smoothing, "label_smoothing": training.label_smoothing})
    import keras  # its loss class: the registry resolves `CategoricalCrossentropy` to the function

    arguments = {key: value for key, value in spec.items() if key != "type"}
    return getattr(keras.losses, smoothing)(**arguments, label_smoothing=training.label_smoothing)


def smoothing_loss(training: Training, output: Any) -> str | None:
    """The loss class that applies the stage's `label_smoothing`, or None when it is 0.

    Raises:
        DataError: With a `DataProblem` at `training.label_smoothing` when the loss in force
            cannot smooth: the default loss of a regression target (a named loss that cannot
            is refused by validation already).
    """
    if not training.label_smoothing:
        return None
    name = training.loss["type"] if training.loss else output.loss
    found = SMOOTHING_LOSSES.get(registry.canonical(name))
    if found is None:
        from kerasopt.data.data_problem import DataProblem

        raise DataProblem("label_smoothing", f"`training.label_smoothing: {training.label_smoothing}` "
                          f"needs a crossentropy loss; the data is a regression target, trained with "
                          f"{name}. Remove `label_smoothing`.", training.label_smoothing, [0],
                          section="training").error()
    return found


def build_callbacks(specs: list[dict[str, Any]], plan: StagePlan, context: dict[str, Any]) -> list[Any]:
    """Build the recipe's callbacks, offering each the run's context arguments.

    Args:
        specs: The stage's callback specs.
        plan: The stage's length (durations in the specs become steps).
        context: Arguments the run offers (`log_dir`: its TensorBoard folder); a callback
            whose constructor takes one and whose spec does not set it receives it. `None`
            values are not offered.
    """
    callbacks = []
    for spec in specs:
        spec = resolve_durations(spec, plan)
        target = registry.get("callback", spec["type"])
        extra = {key: value for key, value in context.items()
                 if value is not None and key not in spec and _accepts(target, key)}
        callbacks.append(registry.build("callback", spec, **extra))
    return callbacks


def _accepts(target: Any, argument: str) -> bool:
    try:
        return argument in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def balanced_class_weight(y: Any, num_classes: int) -> dict[int, float]:
    """`n_samples / (n_classes * count(c))`, as scikit-learn's "balanced" weights."""
    import numpy as np

    counts = np.bincount(np.asarray(y).astype(int).ravel(), minlength=num_classes)
    total = counts.sum()
    return {c: float(total / (num_classes * n)) if n else 0.0 for c, n in enumerate(counts)}


def compile_argument(kind: str, name: str) -> Any:
    """What to pass to `model.compile` for a Keras loss or metric named in a recipe.

    Recipes match names ignoring case, `_` and `-` (`Mse`, `mean-squared-error`); Keras
    matches exactly. A name Keras accepts as written is returned unchanged (it names the
    metric in logs, and `accuracy`/`crossentropy` keep compile's choice by label shape);
    another spelling becomes the one in the signature table; a class Keras's lookup does
    not list (`CategoricalGeneralizedCrossEntropy`) is built here.

    Args:
        kind: `"loss"` or `"metric"`.
        name: The name as the recipe writes it.

    Returns:
        A name that `model.compile` resolves, or the built loss or metric.
    """
    if name.lower() in COMPILE_SHORTHANDS[kind] or keras_get(kind, name) is not None:
        return name
    found = load_table()["kinds"][kind].get(registry.canonical(name))
    if found is not None and keras_get(kind, found["name"]) is not None:
        return found["name"]
    return registry.build(kind, name)
