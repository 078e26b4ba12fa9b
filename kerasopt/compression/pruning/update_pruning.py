"""`UpdatePruning`: the callback that advances pruning steps and updates masks during `fit`."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import keras
from keras import ops

from kerasopt.callbacks._arg_checks import check_optional_str
from kerasopt.compression import layers
from kerasopt.compression.pruning import _masks
from kerasopt.compression.pruning.pruning_wrapper import PruneLowMagnitude
from kerasopt.compression.pruning.summary import pruning_summary
from kerasopt.registry import register


class _Plan:
    """Wrappers that share one schedule and one starting step, split into units that are
    pruned together (all global-scope wrappers of one structure form one unit)."""

    def __init__(self, schedule: Any, base: int) -> None:
        self.schedule = schedule
        self.base = base
        self.units: list[list[PruneLowMagnitude]] = []
        self._joint: dict[tuple[Any, ...], list[PruneLowMagnitude]] = {}

    def add(self, wrapper: PruneLowMagnitude) -> None:
        if wrapper.scope == "global" and wrapper.structure != "n:m":
            key = (wrapper.structure, wrapper.block_shape)
            if key not in self._joint:
                self._joint[key] = []
                self.units.append(self._joint[key])
            self._joint[key].append(wrapper)
        else:
            self.units.append([wrapper])

    def wrappers(self) -> list[PruneLowMagnitude]:
        return [wrapper for unit in self.units for wrapper in unit]


def _schedule_key(wrapper: PruneLowMagnitude) -> str:
    schedule = wrapper.schedule
    return json.dumps([type(schedule).__qualname__, schedule.get_config()], sort_keys=True)


@register("callback")
class UpdatePruning(keras.callbacks.Callback):
    """Advance the pruning step of every `PruneLowMagnitude` layer and update its mask.

    Steps count as in tensorflow-model-optimization: the k-th training batch run with
    pruning is pruning step k (1, 2, ...; tfmot's wrapper increments its step before it
    updates the mask). Before each batch, for each wrapper, the schedule is evaluated at
    that batch's step; when it says to prune, the mask is recomputed from the current
    magnitudes (for global-scope wrappers with the same schedule and structure, one
    ranking across all of them). So with `PolynomialDecay(0, 0.8, begin_step=0,
    end_step=100, frequency=10)` masks change before the 10th, 20th, ..., 100th batch, and
    the model has 80% sparsity once 100 batches have run (step 0 is never a training
    step: a schedule starting there first prunes at step `frequency`).

    The step counter is each wrapper's `pruning_step` variable (int64, the number of
    batches already run with pruning, so the next batch is step `pruning_step + 1`), read once at
    `on_train_begin` and counted on the host during `fit`. It is saved with the model
    (checkpoints, `.keras`), so a resumed `fit`, or a second `fit` call, continues the
    schedule where it stopped, independently of the optimizer's `iterations`. Writing a
    variable costs a device dispatch (0.2-0.5 ms each on a busy 2-core CPU), so the
    counters are written only at mask updates, at the end of each epoch's last batch (so
    epoch-end checkpoints hold the exact count, whatever the callback order), at epoch end
    and at train end; with an unknown number of steps per epoch, after every batch. A
    checkpoint saved mid-epoch (`save_freq=N` batches) therefore holds the step of the
    last mask update; resuming from it repeats that update and shifts the schedule by
    fewer than `frequency` steps. At each epoch end and at train end, masks are
    re-applied to the kernels (weights set outside the optimizer, e.g. by an EMA swap at
    the end of `fit`, become zero where the mask is).

    Cost per batch: the schedule is evaluated on the host (NumPy, no device read), and
    masks are recomputed only at pruning steps (every `frequency` batches). With
    `steps_per_execution` > 1 a pruning step that falls inside an execution is applied
    before the next one.

    Not async-safe (`async_safe = False`): its batch hooks update model variables and
    rely on running in order, so Keras runs the batch-end hooks synchronously.

    With `log_dir`, each epoch end writes TensorBoard scalars into `<log_dir>/train`, with
    the pruning step as the x axis: `pruning/sparsity/<layer>` (fraction of exact zeros of
    each prunable kernel), `pruning/sparsity` (all of them together) and
    `pruning/target_sparsity` (the schedule's value; `pruning/target_sparsity/<layer>` per
    layer when layers have different schedules). Sparsity is measured in the innermost
    model that holds every wrapper (the pruned student when the model trained is a
    `kerasopt.compression.distillation.Distiller`, not its teacher).

    Args:
        log_dir: TensorBoard folder, or None for no summaries. Defaults to `None`.

    Raises:
        ValueError: If `log_dir` is not a non-empty string or None; at `on_train_begin`,
            if the model has no `PruneLowMagnitude` layer or one is not built yet.

    Example:
        >>> from kerasopt.compression.pruning import PolynomialDecay, prune_low_magnitude
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
        >>> pruned = prune_low_magnitude(model, PolynomialDecay(0.0, 0.5, 0, 4, frequency=2))
        >>> pruned.compile("sgd", "mse")
        >>> x, y = np.ones((6, 8)), np.ones((6, 4))
        >>> _ = pruned.fit(x, y, batch_size=1, verbose=0, callbacks=[UpdatePruning()])
        >>> pruning_summary(pruned)["sparsity"], int(pruned.layers[0].pruning_step)
        (0.5, 6)
    """

    async_safe = False
    per_step_hooks = True  # masks change at exactly the scheduled steps (a recipe runner keeps 1 step per execution)

    def __init__(self, log_dir: str | None = None) -> None:
        super().__init__()
        check_optional_str("log_dir", log_dir)
        self.log_dir = log_dir
        self._plans: list[_Plan] = []
        self._done = 0  # batches completed in this fit
        self._checked = 0  # batches whose pruning decision is made
        self._epoch_offset = 0
        self._writer: Any = None

    def _find_wrappers(self) -> list[tuple[str, PruneLowMagnitude]]:
        found = [(q, layer) for q, layer in layers.walk(self.model)
                 if isinstance(layer, PruneLowMagnitude)]
        if not found:
            raise ValueError(
                f"UpdatePruning found no PruneLowMagnitude layer in model {self.model.name!r}. "
                "Train the model returned by kerasopt.compression.pruning.prune_low_magnitude "
                "(or wrap layers in PruneLowMagnitude) with this callback.")
        return found

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        plans: dict[tuple[str, int], _Plan] = {}
        for name, wrapper in self._find_wrappers():
            if not wrapper.built:
                raise ValueError(
                    f"UpdatePruning needs built pruning wrappers before the first batch, but "
                    f"{name!r} of model {self.model.name!r} is not built. Give the model an "
                    "input shape (keras.Input(...) first, or model.build(input_shape)) before "
                    "fit.")
            base = int(ops.convert_to_numpy(wrapper.pruning_step))
            key = (_schedule_key(wrapper), base)
            if key not in plans:
                plans[key] = _Plan(wrapper.schedule, base)
            plans[key].add(wrapper)
        self._plans = list(plans.values())
        self._done = self._checked = self._epoch_offset = 0
        if self.log_dir is not None and self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_offset = self._done

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        current = self._epoch_offset + batch
        for plan in self._plans:
            decision = None
            for done in range(self._checked, current + 1):
                should_prune, sparsity = plan.schedule(plan.base + done + 1)  # batch `done` is step done + 1
                if should_prune:
                    decision = sparsity
            if decision is not None:
                for unit in plan.units:
                    if len(unit) == 1:
                        unit[0].update_mask(decision)
                    else:
                        _masks.prune_jointly(unit, decision)
                self._write_steps(plan, current)
        self._checked = current + 1

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._done = self._epoch_offset + batch + 1
        steps = (self.params or {}).get("steps")
        if steps is None or batch + 1 >= steps:  # an epoch's last batch, before any epoch-end save
            for plan in self._plans:
                self._write_steps(plan, self._done)

    @staticmethod
    def _write_steps(plan: _Plan, done: int) -> None:
        for wrapper in plan.wrappers():
            wrapper.pruning_step.assign(plan.base + done)

    def _remask(self) -> None:
        for plan in self._plans:
            for wrapper in plan.wrappers():
                wrapper.apply_mask(wrapper.mask)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._remask()
        for plan in self._plans:  # again, in case the epoch stopped early
            self._write_steps(plan, self._done)
        if self._writer is not None:
            self._log()

    def _summary_scope(self) -> Any:
        """The innermost model holding every wrapper: the pruned student inside a distiller,
        so a frozen teacher's kernels do not dilute the logged sparsity."""
        wrappers = {id(w) for plan in self._plans for w in plan.wrappers()}
        scope = self.model
        while True:
            inner = [layer for layer in scope.layers if isinstance(layer, keras.Model) and wrappers <= {
                id(found) for _, found in layers.walk(layer)}]
            if not inner:
                return scope
            scope = inner[0]

    def _log(self) -> None:
        import tensorflow as tf

        summary = pruning_summary(self._summary_scope())
        step = self._plans[0].base + self._done if self._plans else self._done
        with self._writer.as_default(step=step):
            for name, value in summary["layers"].items():
                tf.summary.scalar(f"pruning/sparsity/{name}", value)
            tf.summary.scalar("pruning/sparsity", summary["sparsity"])
            for plan in self._plans:
                target = plan.schedule(plan.base + self._done)[1]  # the last batch's step
                if len(self._plans) == 1:
                    tf.summary.scalar("pruning/target_sparsity", target)
                    continue
                for wrapper in plan.wrappers():
                    tf.summary.scalar(f"pruning/target_sparsity/{wrapper.layer.name}", target)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._remask()
        for plan in self._plans:
            self._write_steps(plan, self._done)
            first = plan.schedule.first_pruning_step()
            if plan.base + self._done < first:  # nothing pruned yet: say why instead of silence
                warnings.warn(
                    f"UpdatePruning: no mask was updated in this fit: it ran pruning steps "
                    f"{plan.base + 1}-{plan.base + self._done}, and the first pruning step of "
                    f"{plan.schedule!r} is {first} (steps count from 1, the k-th batch is step k, "
                    "as in tensorflow-model-optimization). Train longer, or lower begin_step / "
                    "frequency.", stacklevel=2)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"log_dir": self.log_dir}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UpdatePruning:
        """Rebuild the callback from `get_config()`."""
        return cls(**config)
