"""Refuse, before anything is written, what cannot give the one-device numbers as asked.

kerasopt's own components give the one-device numbers under a distribution strategy
(their gradient sums, clipping, line searches, closures and quantization ranges see the
global batch; `tests/distribute` checks every one of them under `MirroredStrategy`). Three
things in a recipe cannot, and are refused here with exit status 2 and one message
naming the key, the strategy or precision, and the way out:

- a *Keras* optimizer with `clipnorm`, `clipvalue` or `global_clipnorm` under several
  replicas: Keras 3 clips each replica's share of the gradient before summing them, so
  the clipping acts on a fraction of the global-batch gradient;
- any optimizer with `gradient_accumulation_steps` under several replicas: Keras 3
  applies the accumulated gradients inside a conditional, where the cross-replica sum
  cannot run (the step fails while tracing);
- a line-search (LBFGS, ConjugateGradient) or closure (SAM, AdaHessian) optimizer under
  `mixed_float16`: Keras's `LossScaleOptimizer` then scales the loss and applies the
  gradients itself, hiding the loss a line search needs and the closure SAM and
  AdaHessian need.

`runtime.scale_learning_rate: linear` multiplies numeric learning rates; a learning rate
given as a schedule cannot be scaled this way and is refused too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kerasopt.recipe.errors import Path, Problem, RecipeError

if TYPE_CHECKING:
    from kerasopt.recipe.format.schema import Recipe

_CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")


def replica_lr_factor(recipe: Recipe, replicas: int) -> float:
    """The factor `runtime.scale_learning_rate` puts on numeric learning rates.

    `linear`: `data.batch_size / base_batch_size`, the base defaulting to the batch one
    replica gets (so the factor is the replica count); `none`: 1.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> recipe = NS(runtime=NS(scale_learning_rate="linear", base_batch_size=None),
        ...             data=NS(batch_size=256))
        >>> replica_lr_factor(recipe, 4)
        4.0
        >>> recipe.runtime.base_batch_size = 128
        >>> replica_lr_factor(recipe, 4)
        2.0
    """
    runtime = recipe.runtime
    if runtime.scale_learning_rate == "none":
        return 1.0
    base = runtime.base_batch_size or recipe.data.batch_size / replicas
    return float(recipe.data.batch_size / base)


def check_strategy(optimizers: Sequence[tuple[Path, Any, Any]], *, replicas: int, strategy: str,
                   device: str, mixed_precision: str, lr_factor: float, source: str) -> None:
    """Raise a `RecipeError` listing every optimizer setting the strategy or precision refuses.

    Each stage's optimizer, as the run built it (in the strategy's scope), is looked at,
    wrappers and their inner optimizers alike; stages sharing one optimizer section are
    looked at once.

    Args:
        optimizers: For each stage, `(key path of its optimizer section, the optimizer as
            built for it, its learning rate as the recipe gives it)`.
        replicas: Replicas of the run's strategy.
        strategy: The strategy's class name, for the messages.
        device: The device (`cpu`, `gpu`, `tpu`), for the messages.
        mixed_precision: The recipe's `runtime.mixed_precision` (`auto` is named when it
            chose `mixed_float16`).
        lr_factor: The factor on numeric learning rates; a schedule cannot take one.
        source: The recipe file, for the error.

    Raises:
        RecipeError: With one problem per refused optimizer setting.
    """
    import keras

    loss_scaling = keras.mixed_precision.global_policy().name == "mixed_float16"
    problems: list[Problem] = []
    seen: set[Path] = set()
    for path, optimizer, rate in optimizers:
        if path in seen:
            continue
        seen.add(path)
        if lr_factor != 1.0 and not _numeric(rate):
            problems.append(Problem(
                (*path, "learning_rate"), "runtime.scale_learning_rate: linear multiplies numeric "
                "learning rates; scale the rates of this schedule by hand (factor "
                f"{lr_factor:g}) or set runtime.scale_learning_rate: none", received=rate))
        for where, message, received in refusals(optimizer, replicas, strategy, loss_scaling):
            if "mixed_float16" in message and mixed_precision == "auto":
                message += f" (runtime.mixed_precision: auto chose mixed_float16 on the {device.upper()})"
            problems.append(Problem((*path, *where), message, received=received))
    if problems:
        raise RecipeError(problems, source)


def refusals(optimizer: Any, replicas: int, strategy: str,
             loss_scaling: bool) -> list[tuple[Path, str, Any]]:
    """What an optimizer (and any optimizer it wraps) cannot do right here.

    Args:
        optimizer: The built optimizer.
        replicas: Replicas of the run's strategy.
        strategy: The strategy's class name, for the messages.
        loss_scaling: Whether Keras will wrap the optimizer in a `LossScaleOptimizer`
            (the `mixed_float16` policy).

    Returns:
        `(key path below the optimizer, message, value received)` for each refusal.
    """
    from kerasopt._keras_compat import ReplicaClipHook
    from kerasopt.optimizers._line_search_optimizer import LineSearchOptimizer

    found: list[tuple[Path, str, Any]] = []
    chain: list[tuple[Path, Any]] = [((), optimizer)]
    while getattr(chain[-1][1], "inner_optimizer", None) is not None:
        chain.append(((*chain[-1][0], "optimizer"), chain[-1][1].inner_optimizer))
    for where, current in chain:
        name = type(current).__name__
        if replicas > 1 and not isinstance(current, ReplicaClipHook):
            for arg in _CLIPPING:
                value = getattr(current, arg, None)
                if value is not None:
                    found.append(((*where, arg), (
                        f"Keras's {name} clips each replica's share of the gradient under {strategy} "
                        f"({replicas} replicas), not the global batch's gradient, so `{arg}` would "
                        "not act as on one device. Use a kerasopt optimizer (they clip the global "
                        "gradient; lazy_adam is Adam for dense gradients), drop the clipping, or "
                        "set runtime.strategy: one_device"), value))
        steps = getattr(current, "gradient_accumulation_steps", None)
        if replicas > 1 and steps:
            found.append(((*where, "gradient_accumulation_steps"), (
                f"gradient accumulation does not work under {strategy} ({replicas} replicas): "
                "Keras 3 applies accumulated gradients inside a conditional, where tf.distribute "
                "cannot sum gradients over replicas. Raise data.batch_size instead (the global "
                "batch, split over the replicas), or set runtime.strategy: one_device"), steps))
        if loss_scaling and isinstance(current, LineSearchOptimizer):
            found.append((where, (
                f"{name} cannot run under mixed_float16: Keras wraps the optimizer in a "
                "LossScaleOptimizer, which scales the loss without handing it to the line "
                "search. Set runtime.mixed_precision to none or mixed_bfloat16"), name))
    if loss_scaling and getattr(optimizer, "requires_closure", False):
        found.append(((), (
            f"{type(optimizer).__name__} cannot run under mixed_float16: Keras wraps the optimizer "
            "in a LossScaleOptimizer, which cannot serve the closure (a second gradient or a "
            "Hessian-vector product on the same batch) it needs. Set runtime.mixed_precision to "
            "none or mixed_bfloat16"), type(optimizer).__name__))
    return found


def optimizer_path(raw: dict[str, Any], index: int) -> Path:
    """The key path of stage `index`'s optimizer section: its own, or the top-level one."""
    stages = raw.get("stages") or []
    if index < len(stages):
        own = stages[index].get("training") if isinstance(stages[index], dict) else None
        if isinstance(own, dict) and "optimizer" in own:
            return ("stages", index, "training", "optimizer")
    return ("training", "optimizer")


def _numeric(value: Any) -> bool:
    return value == "auto" or (isinstance(value, (int, float)) and not isinstance(value, bool))
