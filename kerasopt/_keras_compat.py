"""The one place where kerasopt reaches private Keras names.

kerasopt builds on Keras 3 internals in a few spots where Keras has no public API: an
optimizer's variable index, the model's loss tracker, the hook that runs decoupled weight
decay before each update... Every such name is reached through this module, and only here,
so a Keras release that renames one breaks one function, and `tests/test_keras_compat.py`
(one test per name) says which. Each docstring names what it reaches and the Keras versions
it is known to work with ("3.0-3.15" means checked on 3.15.1 and present, unchanged, since
3.0). Nothing here imports `keras.src`.

Three private *hooks* are overridden rather than read. They are mixins here
(`WeightDecayHook`, `WholeUpdateHook`, `ReplicaClipHook`) so that kerasopt's optimizers implement a kerasopt
method and never define a private Keras name themselves.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import keras

TESTED_KERAS_VERSION = "3.15.1"
"""The Keras release every name below was last checked against."""


# ---------------------------------------------------------------------------
# Optimizer internals (keras.src.optimizers.base_optimizer.BaseOptimizer)
# ---------------------------------------------------------------------------


def variable_index(optimizer: keras.optimizers.Optimizer, variable: Any) -> int:
    """Position of `variable` in the list the optimizer was built with.

    Reaches `BaseOptimizer._get_variable_index(variable)` (Keras 3.0-3.15), which looks the
    variable up by `_var_key`, so a Keras variable and its backend variable (what the
    TensorFlow backend hands `update_step`) give the same index.
    """
    return optimizer._get_variable_index(variable)


def has_variable(optimizer: keras.optimizers.Optimizer, variable: Any) -> bool:
    """Whether the optimizer was built with `variable`.

    Reaches `BaseOptimizer._var_key(variable)` and `_trainable_variables_indices`
    (Keras 3.0-3.15): the table behind `_get_variable_index`.
    """
    return optimizer._var_key(variable) in optimizer._trainable_variables_indices


def built_variables(optimizer: keras.optimizers.Optimizer) -> list[Any]:
    """The trainable variables the optimizer was built with, in build order.

    Reaches `BaseOptimizer._trainable_variables` (Keras 3.0-3.15), set by `build`.
    """
    return list(optimizer._trainable_variables)


def own_variables(optimizer: keras.optimizers.Optimizer) -> list[Any]:
    """The variables the optimizer itself created (its `variables` before any override).

    Reaches `BaseOptimizer._variables` (Keras 3.0-3.15), which the base `variables`
    property copies; wrappers that add their inner optimizer's variables to `variables`
    need the base list.
    """
    return list(optimizer._variables)


def iterations_variable(optimizer: keras.optimizers.Optimizer) -> Any:
    """The optimizer's step counter variable, not divided by gradient accumulation.

    Reaches `BaseOptimizer._iterations` (Keras 3.0-3.15). The public `iterations` property
    returns the same variable unless `gradient_accumulation_steps` is set, when it returns
    a tensor (the counter floor-divided by the accumulation steps) that cannot be assigned.
    """
    return optimizer._iterations


def uses_weight_decay(optimizer: keras.optimizers.Optimizer, variable: Any) -> bool:
    """Whether `exclude_from_weight_decay()` leaves `variable` decayed.

    Reaches `BaseOptimizer._use_weight_decay(variable)` (Keras 3.0-3.15), the check Keras's
    own decoupled decay uses, so kerasopt's in-rule decays honour the same exclusions.
    """
    return bool(optimizer._use_weight_decay(variable))


def raw_learning_rate(optimizer: keras.optimizers.Optimizer) -> Any:
    """The learning rate as stored: a variable, a `LearningRateSchedule` or a callable.

    Reaches `BaseOptimizer._learning_rate` (Keras 3.0-3.15); the public `learning_rate`
    property evaluates a schedule at the current step instead of returning it.
    """
    return optimizer._learning_rate


def adam_slots(optimizer: keras.optimizers.Adam) -> tuple[list[Any], list[Any], list[Any] | None]:
    """Keras Adam's first moments, second moments and (with `amsgrad`) their maxima.

    Reaches `Adam._momentums`, `Adam._velocities` and `Adam._velocity_hats`
    (Keras 3.0-3.15), created by `Adam.build`, one per variable in build order.
    """
    hats = optimizer._velocity_hats if optimizer.amsgrad else None
    return optimizer._momentums, optimizer._velocities, hats


def schedule_ema(optimizer: keras.optimizers.Optimizer, momentum: Callable[[Any], Any]) -> None:
    """Make this optimizer's weight EMA use `momentum(step)` instead of Keras's fixed momentum.

    Replaces, on this instance only, the private hook
    `BaseOptimizer._update_model_variables_moving_average(trainable_variables)`
    (Keras 3.0-3.15), which `apply` calls after every update when `use_ema` is set, and which
    mixes each variable into its average in `_model_variables_moving_average` (created by
    `build`). Keras's own rule is `momentum = ema_momentum * (step != 0)`; `step` is the
    optimizer's `iterations` before the update's increment. Other `use_ema` machinery
    (`finalize_variable_values`, `keras.callbacks.SwapEMAWeights`, saving) is Keras's.
    """

    def update(trainable_variables: Any) -> None:
        value = momentum(optimizer.iterations)
        for var, average in zip(trainable_variables, optimizer._model_variables_moving_average,
                                strict=False):
            if average is not None:
                mix = keras.ops.cast(value, var.dtype)
                average.assign(mix * average + (1 - mix) * var)

    optimizer._update_model_variables_moving_average = update


class SwapEMAWeights(keras.callbacks.SwapEMAWeights):
    """Keras's `SwapEMAWeights`, reaching the optimizer that keeps the average however deep it is.

    Keras's callback looks one `inner_optimizer` deep (a `LossScaleOptimizer`); mixed
    float16 around a kerasopt wrapper (`LossScaleOptimizer(Lookahead(SGD))`) puts the
    average two deep, and Keras's callback then raises inside `fit`. This one follows
    `inner_optimizer` from the model's optimizer down to the first with `use_ema` and swaps
    that one's averages with Keras's own code. Overrides the private hook
    `SwapEMAWeights._apply_to_ema_optimizers(tf_fn, backend_fn)` (Keras 3.0-3.15); without
    an averaging optimizer on the chain it defers to Keras (and its error).
    """

    def _apply_to_ema_optimizers(self, tf_fn: Callable[[Any], None], backend_fn: Callable[[Any], None]) -> None:
        holder = self.model.optimizer
        while not getattr(holder, "use_ema", False) and getattr(holder, "inner_optimizer", None) is not None:
            holder = holder.inner_optimizer
        if not hasattr(holder, "_model_variables_moving_average"):
            super()._apply_to_ema_optimizers(tf_fn, backend_fn)
            return
        (tf_fn if keras.backend.backend() == "tensorflow" else backend_fn)(holder)


class WeightDecayHook:
    """Mixin: lets an optimizer apply `weight_decay` inside its own update rule.

    Keras calls the private hook `_apply_weight_decay(variables)` (Keras 3.0-3.15) on the
    trainable variables just before `update_step`, decaying each by `lr * weight_decay`.
    An optimizer whose paper puts the decay inside the update (RAdam, NovoGrad, LARS...)
    sets the class attribute `decay_in_update_rule = True`; the hook then does nothing.
    List this mixin before `keras.optimizers.Optimizer` in the bases.
    """

    decay_in_update_rule: bool = False

    def _apply_weight_decay(self, variables: Any) -> None:
        if not self.decay_in_update_rule:
            super()._apply_weight_decay(variables)  # type: ignore[misc]


class WholeUpdateHook:
    """Mixin: one call per step with all gradients, instead of one `update_step` per variable.

    Keras's `apply` (after clipping, weight decay and gradient accumulation) calls the
    private hook `_backend_update_step(grads, trainable_variables, learning_rate)`
    (Keras 3.0-3.15), whose default loops over `update_step`; the TensorFlow backend's
    version adds a `tf.distribute` cross-replica merge. A subclass defines
    `update_all(grads, trainable_variables, learning_rate)` and gets it called in place of
    that loop, in the replica context, with each replica's own gradients: under a
    distribution strategy `update_all` must sum them itself
    (`kerasopt._replicas.sum_over_replicas`) and write the same values on every replica.
    List this mixin before `keras.optimizers.Optimizer` in the bases.
    """

    def update_all(self, grads: list[Any], trainable_variables: list[Any],
                   learning_rate: Any) -> None:
        """Update every variable in one call (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} must define `update_all`.")

    def _backend_update_step(self, grads: list[Any], trainable_variables: list[Any],
                             learning_rate: Any) -> None:
        self.update_all(list(grads), list(trainable_variables), learning_rate)


class ReplicaClipHook:
    """Mixin: clip the gradient of the global batch under a distribution strategy.

    Keras's `apply` clips with the private hook `_clip_gradients(grads)` (Keras 3.0-3.15)
    *before* `_backend_update_step` sums the gradients over replicas, so under
    `MirroredStrategy` `clipnorm`, `clipvalue` and `global_clipnorm` act on each replica's
    share (a fraction of the global-batch gradient) and give other numbers than one device.
    With this mixin, when clipping is configured and several replicas run, the gradients
    are summed over replicas first, clipped as Keras does, and handed on divided by the
    replica count, so Keras's own sum restores the clipped global gradient (exactly for two
    replicas, to rounding for more). List this mixin before `keras.optimizers.Optimizer`.
    """

    def _clip_gradients(self, grads: list[Any]) -> list[Any]:
        from kerasopt._replicas import replica_count, sum_over_replicas

        clipping = (self.clipnorm, self.clipvalue, self.global_clipnorm)  # type: ignore[attr-defined]
        replicas = replica_count()
        if replicas == 1 or all(c is None for c in clipping):
            return super()._clip_gradients(grads)  # type: ignore[misc]
        clipped = super()._clip_gradients(sum_over_replicas(list(grads)))  # type: ignore[misc]
        return [None if g is None else g / replicas for g in clipped]


# ---------------------------------------------------------------------------
# Layers, models and the train step (keras.src.layers.Layer, keras.src.trainers.Trainer)
# ---------------------------------------------------------------------------


def flatten_layers(layer: keras.layers.Layer, include_self: bool = True) -> list[Any]:
    """Every layer nested in `layer`, recursively, in tracking order.

    Reaches `Layer._flatten_layers(include_self=..., recursive=True)` (Keras 3.0-3.15);
    `Model.layers` lists direct children only.
    """
    return list(layer._flatten_layers(include_self=include_self))


def base_kernel(layer: keras.layers.Layer) -> Any:
    """The kernel variable of a Dense or EinsumDense layer, without its LoRA factors.

    Reaches `Dense._kernel` and `EinsumDense._kernel` (Keras 3.0-3.15): the public `kernel`
    property returns `_kernel + (lora_alpha / lora_rank) * lora_kernel_a @ lora_kernel_b`
    once `enable_lora` has run.
    """
    return layer._kernel


def call_has_training_arg(layer: keras.layers.Layer) -> bool:
    """Whether the layer's `call` takes a `training` argument.

    Reaches `Layer._call_has_training_arg` (Keras 3.0-3.15), which Keras's train step reads
    before calling the model with `training=True`.
    """
    return bool(layer._call_has_training_arg)


class _FoldedSeeds(keras.random.SeedGenerator):
    """Seeds folded from one `[2]` seed tensor: draw `k` of a traced call is `fold_in(seed, k)`.

    Holds no state variable (nothing to track, save or restore), so a layer that draws
    from it is a pure function of its input and `seed`.
    """

    def __init__(self) -> None:  # no super().__init__(): it would create the state variable
        self.name, self.seed, self.draws = "folded_seeds", None, 0

    def next(self, ordered: bool = True) -> Any:
        import tensorflow as tf

        self.draws += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.draws)


def stateless_preprocessing(layer: keras.layers.Layer) -> Callable[[Any, Any], Any]:
    """`layer(x, training=True)` as a function of `(x, seed)`, `seed` an int tensor of shape `[2]`.

    Keras's image preprocessing layers (`RandAugment`, `AugMix`, `RandomErasing`...) draw
    from a stateful `SeedGenerator`, read by `BaseImagePreprocessingLayer._get_seed_generator`
    from the attribute `generator` of the layer and of each layer nested in it (and, when
    Keras's backend is not TensorFlow, from the dict `_backend_generators` keyed by the
    backend name; Keras 3.8-3.15). In a `tf.data` map that state would be shared by the
    parallel calls and lost on resume. The returned function replaces those generators by
    one that folds each draw from `seed` instead, so the same `(x, seed)` always gives the
    same output. It is meant to be traced once (as `tf.data` does): draw `k` of the trace
    gets `fold_in(seed, k)`.

    `AugMix` (Keras 3.15) also picks each chain's operations with Python's `random` module
    when it is called, that is once when `tf.data` traces it: the run then keeps those
    chains for every batch (only their strengths and the mixing weights are drawn per
    batch). Python's generator is seeded from the layer's `seed` for the call (and put back
    afterwards), so the chains, too, follow the seed.
    """
    seeds = _FoldedSeeds()
    for inner in flatten_layers(layer):
        if isinstance(getattr(inner, "generator", None), keras.random.SeedGenerator):
            object.__setattr__(inner, "generator", seeds)  # untracked: no state to save
            object.__setattr__(inner, "_backend_generators", {"tensorflow": seeds})

    def call(x: Any, seed: Any) -> Any:
        seeds.seed, seeds.draws = seed, 0
        state = random.getstate()
        random.seed(getattr(layer, "seed", None) or 0)
        try:
            return layer(x, training=True)
        finally:
            random.setstate(state)

    call.layer = layer  # type: ignore[attr-defined]
    return call


def compute_loss(model: keras.Model, x: Any, y: Any, y_pred: Any, sample_weight: Any,
                 training: bool = True) -> Any:
    """The model's training loss, as Keras's train step computes it.

    Reaches `Trainer._compute_loss` (Keras 3.3-3.15), which calls `compute_loss` with or
    without `training` depending on whether a user override accepts it.
    """
    return model._compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
    )


def loss_tracker(model: keras.Model) -> Any:
    """The `Mean` metric behind the `loss` that `fit` reports.

    Reaches `Trainer._loss_tracker` (Keras 3.0-3.15), created by `compile`.
    """
    return model._loss_tracker


def symbolic_build(model: keras.Model, data_batch: Any) -> None:
    """Build an unbuilt model, its compiled loss and metrics from one data batch.

    Reaches `Trainer._symbolic_build(data_batch=...)` (Keras 3.0-3.15), which Keras runs
    under a distribution strategy before the first step.
    """
    model._symbolic_build(data_batch=data_batch)


def unscale_loss_for_distribution(value: Any) -> Any:
    """The loss times the number of replicas in sync (identity on one replica).

    Mirrors `keras.src.losses.loss.unscale_loss_for_distribution` (Keras 3.0-3.15), which
    Keras's TensorFlow train step applies before updating the loss tracker (losses are
    scaled down by the replica count for the summed gradient). Written with public
    TensorFlow API; the test compares it with Keras's function.
    """
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        value = keras.ops.multiply(value, keras.ops.cast(replicas, value.dtype))
    return value



def loss_reduction_module() -> ModuleType:
    """The module of `keras.losses.Loss`, whose `reduce_values` every built-in loss reduces with.

    Reaches `keras.src.losses.loss` (Keras 3.0-3.15) through `sys.modules`: `Loss.__call__`
    looks `reduce_values` up there at each call, so replacing it there changes every loss
    (:func:`kerasopt.distribute.global_batch_loss.global_batch_mean_loss`).
    """
    module = sys.modules[keras.losses.Loss.__module__]
    if not callable(getattr(module, "reduce_values", None)):
        raise RuntimeError(f"{module.__name__} has no reduce_values (Keras {keras.__version__}); "
                           "kerasopt's global-batch loss needs Keras 3.0-3.15's loss reduction.")
    return module

# ---------------------------------------------------------------------------
# Metrics and callbacks
# ---------------------------------------------------------------------------


def metric_direction(metric: Any) -> str | None:
    """`"up"` or `"down"` when the metric declares which way is better, else None.

    Reaches `Metric._direction` (Keras 3.0-3.15): `"up"` for accuracies and AUC, `"down"`
    for errors, unset on metrics that do not say.
    """
    direction = getattr(metric, "_direction", None)
    return direction if direction in ("up", "down") else None


def tensorboard_traces(callback: keras.callbacks.TensorBoard) -> bool:
    """Whether Keras's TensorBoard callback will profile batches (`profile_batch` set).

    Reaches `TensorBoard._should_trace` (Keras 3.0-3.15), set in its constructor from
    `profile_batch`.
    """
    return bool(callback._should_trace)


# ---------------------------------------------------------------------------
# Keras's TensorFlow trainer under multi-worker strategies
# (keras.src.backend.tensorflow.trainer; see kerasopt.distribute.keras_fixes)
# ---------------------------------------------------------------------------


def tensorflow_trainer() -> type:
    """The class that gives `keras.Model` its `fit` on the TensorFlow backend.

    Reaches `keras.src.backend.tensorflow.trainer.TensorFlowTrainer` (Keras 3.0-3.15) as a
    base class of `keras.Model`, without importing `keras.src`.

    Raises:
        RuntimeError: When `keras.Model` has no such base (another backend, or a Keras that
            renamed it).
    """
    for base in keras.Model.__mro__:
        if base.__name__ == "TensorFlowTrainer":
            return base
    raise RuntimeError(
        f"keras.Model has no TensorFlowTrainer base (backend {keras.backend.backend()!r}, "
        f"Keras {keras.__version__}); multi-worker training needs the TensorFlow backend.")


def tensorflow_trainer_module() -> ModuleType:
    """The module of :func:`tensorflow_trainer`, which also defines `reduce_per_replica`.

    Reaches `keras.src.backend.tensorflow.trainer` (Keras 3.0-3.15) through
    `sys.modules`; the module is loaded whenever the TensorFlow backend is.
    """
    return sys.modules[tensorflow_trainer().__module__]


def collective_multi_worker(strategy: Any) -> bool:
    """Whether Keras treats `strategy` as a multi-worker collective strategy.

    Reaches `_collective_all_reduce_multi_worker(strategy)` of the TensorFlow trainer
    module (Keras 3.0-3.15): True for a `MultiWorkerMirroredStrategy` in multi-worker
    mode, the case in which `reduce_per_replica` takes its cross-worker branch.
    """
    return bool(tensorflow_trainer_module()._collective_all_reduce_multi_worker(strategy))


def fit_internals() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The current `TensorFlowTrainer._maybe_symbolic_build` and `reduce_per_replica`.

    Reaches the method `TensorFlowTrainer._maybe_symbolic_build(self, iterator=None,
    data_batch=None)` (Keras 3.0-3.15), which builds the model from the first batch before
    `fit`, `evaluate` and `predict` under a strategy, and the module function
    `reduce_per_replica(values, strategy, reduction)` (Keras 3.0-3.15), which every
    compiled train and test step applies to the per-replica logs.
    """
    module = tensorflow_trainer_module()
    return module.TensorFlowTrainer._maybe_symbolic_build, module.reduce_per_replica


@contextlib.contextmanager
def replaced_fit_internals(symbolic_build: Callable[..., Any],
                           reduce_per_replica: Callable[..., Any]) -> Iterator[None]:
    """Within the block, the two functions of :func:`fit_internals` are replaced.

    Sets `TensorFlowTrainer._maybe_symbolic_build` and the trainer module's
    `reduce_per_replica` (Keras 3.0-3.15; the train and test functions look the latter up
    when they are traced), and puts the originals back afterwards.
    """
    module = tensorflow_trainer_module()
    original_build, original_reduce = fit_internals()
    module.TensorFlowTrainer._maybe_symbolic_build = symbolic_build
    module.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        module.TensorFlowTrainer._maybe_symbolic_build = original_build
        module.reduce_per_replica = original_reduce
