"""One run: the validated recipe and its stages, carried from start to end.

`kerasopt run`, `kerasopt lr-find` (and sweeps) all go through a :class:`Run`: it seeds and
places the run, builds data and model, and compiles and fits each stage, calling every
technique's hooks (:mod:`kerasopt.recipe.run.techniques`) at fixed points. It writes nothing
itself; files go through the :class:`~kerasopt.recipe.store.run_dir.RunDirectory` it is given.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kerasopt.recipe.check.loader import LoadedRecipe
from kerasopt.recipe.errors import RecipeError, RunInterrupted
from kerasopt.recipe.format.stages import StageSettings, resolve_stages
from kerasopt.recipe.run.techniques.state import TechniqueState
from kerasopt.recipe.store.run_dir import RunDirectory


class Run:
    """A recipe on its way to a run directory.

    Args:
        loaded: The validated recipe.
        run_dir: Where files go; `None` for a run that writes nothing (lr-find's model
            set-up). Defaults to `None`.
        callbacks: Further callbacks for every stage's `fit`. Defaults to `()`.

    Attributes:
        recipe: The validated recipe.
        stages: Every stage with the settings in force in it.
        techniques: One instance of every technique, consulted at each hook.
        state: What the techniques' hooks receive (:class:`TechniqueState`): the model,
            the data, the strategy's scope, each stage's plan...
        placement: Device and strategy (after :meth:`open`).
        data: The data bundle (after :meth:`build`), held by `state`.
        model: The model being trained, evaluated and exported, held by `state`;
            techniques may replace it.
        trainee: The model `fit` trains in the current stage: `model`, or a technique's
            wrapper around it (a distiller).
        lr_factor: Multiplies numeric learning rates (`runtime.scale_learning_rate`, or
            `batch_size: auto` with LR scaling); set once, by :meth:`build`.
        batch_size_search: The batch-size search's result, or None.
        uncompressed_model: A copy of the model as it was when the first stage with a
            compression technique started (the float baseline of exports), or None.
        xla_failure: The note printed when XLA failed to compile the model, or None.
        probe_seconds: Time spent warming up and timing execution settings, all stages.
    """

    def __init__(self, loaded: LoadedRecipe, run_dir: RunDirectory | None = None,
                 callbacks: Sequence[Any] = ()) -> None:
        from kerasopt.recipe.run.techniques import TECHNIQUES

        self.loaded = loaded
        self.recipe = loaded.recipe
        self.run_dir = run_dir
        self.extra_callbacks = list(callbacks)
        self.stages: list[StageSettings] = resolve_stages(loaded.recipe, loaded.raw)
        self.techniques = [cls() for cls in TECHNIQUES]
        self.state = TechniqueState(
            self.recipe, str(loaded.path), self.stages, log_dir=self.log_dir,
            build_model=self._fresh_model, strippers=[t.strip for t in self.techniques])
        self.placement: Any = None
        self.lr_factor = 1.0
        self._optimizers: dict[int, tuple[dict[str, Any], bool, Any]] = {}
        self.batch_size_search: dict[str, Any] | None = None
        self.uncompressed_model: Any = None
        self.trainee: Any = None
        self.xla_failure: str | None = None
        self.probe_seconds = 0.0

    @contextlib.contextmanager
    def open(self) -> Iterator[Run]:
        """Seed, set determinism and precision, choose the device; undo process-wide settings after."""
        from kerasopt.recipe.run import session

        self.placement = session.start(self.recipe.runtime, self.recipe.seed)
        self.state.scope = self.placement.strategy.scope
        try:
            with self.placement.keras_fixes():  # only for strategies Keras's `fit` mishandles
                yield self
        finally:
            session.finish()

    @property
    def model(self) -> Any:
        return self.state.model

    @model.setter
    def model(self, model: Any) -> None:
        self.state.model = model

    @property
    def data(self) -> Any:
        return self.state.data

    @data.setter
    def data(self, data: Any) -> None:
        self.state.data = data

    @property
    def log_dir(self) -> str | None:
        """The TensorBoard folder, when this process logs."""
        if self.run_dir is None or not self.run_dir.is_chief or not self.recipe.runtime.tensorboard.enabled:
            return None
        return str(self.run_dir.logs)

    def build(self) -> None:
        """Build data and model, run the techniques' `model_built` hooks and any batch-size search;
        then plan every stage and build its optimizer, once (:meth:`_plan_stages`).

        Raises:
            RecipeError: A component cannot give the one-device numbers under the run's
                strategy or precision (:mod:`kerasopt.recipe.check.strategy_check`).
        """
        from kerasopt.recipe.check.strategy_check import replica_lr_factor
        from kerasopt.recipe.run import assemble, session

        searching = self.recipe.data.batch_size == "auto"
        with self._as_recipe_error():
            self.data = session.build_data(self.recipe, loss=self.stages[0].training.loss)
            session.check_streamed(self.recipe, self.stages, self.data)
            for stage in self.stages:  # refused before anything is written
                assemble.smoothing_loss(stage.training, self.data.output)
        # Refused before anything is built or written (under `batch_size: auto`, the search's
        # optimizer now, the stages' once the search has found the batch size).
        probe = self._search_optimizer() if searching else None
        if not searching:
            self._plan_stages(replica_lr_factor(self.recipe, self.placement.replicas))
        with self.placement.strategy.scope(), self._as_recipe_error():
            self.model = self._synchronized(session.build_model(self.recipe, self.data))
        self._hook("model_built")
        if probe is not None:
            self._plan_stages(self._search_batch_size(*probe))
        for stage in self.stages:  # before anything builds the optimizers' variables
            self._hook("optimizer_built", stage, self._optimizers[stage.index][2])

    def _search_optimizer(self) -> tuple[dict[str, Any], Any]:
        """The batch-size search's own optimizer (spec and optimizer): the first stage's, for
        the provisional batch size, unscaled; checked against the strategy."""
        from kerasopt.recipe.run import assemble

        first = self.stages[0]
        spec, _ = self._optimizer_spec(first, assemble.plan_stage(first.training, self.data.steps_per_epoch), 1.0)
        probe = self._build_optimizer(spec)
        self._check_strategy({first.index: probe}, 1.0)
        return spec, probe

    def _search_batch_size(self, spec: dict[str, Any], probe: Any) -> float:
        """`batch_size: auto`: search, rebuild the data with the batch found; return the LR factor.

        The search trains a few trial steps (then puts every variable back) with an
        optimizer of its own (:meth:`_search_optimizer`); the stages' optimizers are built
        afterwards, for the batch found.
        """
        from kerasopt.recipe.run import session

        first = self.stages[0]
        self._compile(first, spec, probe)
        self.batch_size_search = session.search_batch_size(self.recipe, probe, self.model, self.data)
        self.data = session.build_data(self.recipe, batch_size=self.batch_size_search["batch_size"],
                                       loss=first.training.loss)
        return self.batch_size_search["lr_factor"]

    def _plan_stages(self, lr_factor: float) -> None:
        """Set the learning-rate factor; plan every stage and build its optimizer, once each;
        refuse what the strategy or precision cannot run.

        The one place that writes `lr_factor`, `state.plans` and the stages' optimizers: the
        data is final here, so `fit`, the techniques (pruning's schedule) and the optimizer
        read the same plan and the same learning rate.
        """
        from kerasopt.recipe.check.ema_start import ema_start_problems
        from kerasopt.recipe.run import assemble

        self.lr_factor = lr_factor
        self.state.plans = {stage.index: assemble.plan_stage(stage.training, self.data.steps_per_epoch)
                            for stage in self.stages}
        late = ema_start_problems(self.recipe, self.loaded.raw, self.data.steps_per_epoch)
        if late:  # a start in steps against a length in epochs, or the reverse
            raise RecipeError(late, str(self.loaded.path))
        for stage in self.stages:
            spec, lr_auto = self._optimizer_spec(stage, self.state.plans[stage.index], lr_factor)
            self._optimizers[stage.index] = (spec, lr_auto, self._build_optimizer(spec))
        self._check_strategy({index: built for index, (_, _, built) in self._optimizers.items()}, lr_factor)

    def _build_optimizer(self, spec: dict[str, Any]) -> Any:
        """The optimizer of a spec, built in the strategy's scope."""
        from kerasopt import registry

        with self.placement.strategy.scope():
            return registry.build("optimizer", spec)

    def _check_strategy(self, optimizers: dict[int, Any], lr_factor: float) -> None:
        """:func:`~kerasopt.recipe.check.strategy_check.check_strategy` on the stages' built optimizers."""
        from kerasopt.recipe.check.strategy_check import check_strategy, optimizer_path

        stages = {stage.index: stage for stage in self.stages}
        check_strategy(
            [(optimizer_path(self.loaded.raw, index), optimizer,
              stages[index].training.optimizer.get("learning_rate", 0.0))
             for index, optimizer in optimizers.items()],
            replicas=self.placement.replicas, strategy=type(self.placement.strategy).__name__,
            device=self.placement.device, mixed_precision=self.recipe.runtime.mixed_precision,
            lr_factor=lr_factor, source=str(self.loaded.path))

    def _fresh_model(self, section: Any = None) -> Any:
        """A fresh, untrained build of a `model:` section (None: the recipe's), for techniques."""
        from kerasopt.recipe.run import session

        return session.build_model(self.recipe, self.data, section)

    @contextlib.contextmanager
    def _as_recipe_error(self) -> Iterator[None]:
        """Data and model errors met while building from the recipe, as the `RecipeError` they are.

        Validation finds most of them; what only building can find (a layer argument Keras
        rejects, a `.keras` file whose output does not fit the data) is still a recipe
        problem: exit 2, raised before the run directory is written.
        """
        from kerasopt.data.errors import DataError
        from kerasopt.models.errors import ModelError
        from kerasopt.recipe.errors import Problem

        try:
            yield
        except (DataError, ModelError) as err:
            found = getattr(err, "problem", None)
            if found is not None:
                path = (found.section, *found.key.split(".")) if found.key else (found.section,)
            else:  # a ModelError's message opens with the key it blames: "`model.layers[0]` ..."
                named = re.match(r"`(model(?:\.\w+|\[\d+\])*)`", str(err))
                words = re.findall(r"\w+|\[\d+\]", named.group(1)) if named else \
                    ["data" if isinstance(err, DataError) else "model"]
                path = tuple(int(w[1:-1]) if w.startswith("[") else w for w in words)
            raise RecipeError([Problem(path, str(err), has_received=False)],
                              str(self.loaded.path)) from err

    def _synchronized(self, model: Any) -> Any:
        """Under several replicas, batch normalization with the global batch's statistics.

        Keras's `BatchNormalization` normalizes with each replica's own batch statistics
        unless `synchronized=True` (read at call time); the run sets it on every such layer,
        so a model trains with the statistics of the global batch `data.batch_size`, as on
        one device (at the cost of one all-reduce per layer and step).
        """
        if self.placement.replicas > 1:
            import keras

            from kerasopt.models.layer_walk import all_layers

            for layer in all_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        return model

    def start_stage(self, stage: StageSettings) -> None:
        """Freeze/unfreeze layers as the stage asks, then the techniques' `stage_start` hooks."""
        if stage.freeze or stage.unfreeze:
            from kerasopt.models.transfer import set_trainable

            set_trainable(self.model, freeze=list(stage.freeze), unfreeze=list(stage.unfreeze))
        if stage.model is not None:
            from kerasopt.recipe.run import session

            with self.placement.strategy.scope():
                self.model = self._synchronized(session.build_model(self.recipe, self.data, stage.model))
        if stage.compression.weight_techniques() and self.uncompressed_model is None:
            from kerasopt.compression.cloning import copy_model

            self.uncompressed_model = copy_model(self.model)
        self._hook("stage_start", stage)

    def compile(self, stage: StageSettings, *, for_fit: bool = True) -> tuple[Any, bool]:
        """Compile the model with the stage's optimizer (built once, by :meth:`build`), loss and metrics.

        Args:
            stage: The stage.
            for_fit: Whether the stage trains (or sweeps the learning rate): the techniques'
                `fit_model` and `compiled` hooks run. False for a stage skipped on
                `--resume`: the model alone is compiled, to load its weights and optimizer
                slots and to evaluate it. Defaults to `True`.

        Returns:
            The optimizer, and whether its learning rate is to come from the LR range test.
        """
        spec, lr_auto, optimizer = self._optimizers[stage.index]
        self._compile(stage, spec, optimizer, hooks=for_fit)
        return optimizer, lr_auto

    def _compile(self, stage: StageSettings, spec: dict[str, Any], optimizer: Any, hooks: bool = True) -> None:
        """Compile the trainee (the model, or a technique's wrapper around it) with `optimizer`;
        without `hooks`, the model itself, no technique consulted."""
        from kerasopt.recipe.run import assemble

        training = stage.training
        with self.placement.strategy.scope():
            loss = assemble.training_loss(training, self.data.output)
            metrics = ([self.data.output.head_metric(assemble.keras_argument("metric", m))
                        for m in training.metrics]
                       if training.metrics is not None else self.data.output.keras_metrics())
            trainee = self.model
            for technique in self.techniques if hooks else ():
                trainee = technique.fit_model(self.state, stage, trainee)
            if trainee is not self.model:  # the run's model is evaluated and exported: compile it too
                own = self._build_optimizer(spec)  # its own: the trainee's also trains the wrapper's variables
                own.build(self.model.trainable_variables)  # so a saved .keras file holds matching slots
                self.model.compile(optimizer=own, loss=loss, metrics=metrics)
            # `auto` settings start from Keras's CPU defaults; `fit` decides (`_plan_execution`).
            spe = training.steps_per_execution
            trainee.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                            steps_per_execution=1 if spe == "auto" else spe,
                            jit_compile=False if training.jit_compile == "auto" else training.jit_compile)
            self.trainee = trainee
            if hooks:
                self._hook("compiled", stage, optimizer)

    def _optimizer_spec(self, stage: StageSettings, plan: Any, lr_factor: float) -> tuple[dict[str, Any], bool]:
        """The stage's optimizer spec as built: durations in steps of `plan`, a numeric rate times `lr_factor`.

        Returns:
            The spec, and whether its learning rate is to come from the LR range test
            (`learning_rate: auto`, then 1e-3 in the spec until the test has run).
        """
        from kerasopt.recipe.run import assemble

        optimizer_spec = assemble.resolve_durations(stage.training.optimizer, plan)
        rate = optimizer_spec.get("learning_rate")
        if lr_factor != 1.0 and isinstance(rate, (int, float)) and not isinstance(rate, bool):
            optimizer_spec = {**optimizer_spec, "learning_rate": rate * lr_factor}
        lr_auto = optimizer_spec.get("learning_rate") == "auto"
        if lr_auto:
            optimizer_spec = {**optimizer_spec, "learning_rate": 1e-3}
        return optimizer_spec, lr_auto

    def fit(self, stage: StageSettings, offset: tuple[int, int] = (0, 0),
            execution: dict[str, Any] | None = None,
            on_execution: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Compile and fit one stage (its `stage_start` has run).

        Args:
            stage: The stage.
            offset: Epochs and steps of the stages before, so TensorBoard curves continue.
                Defaults to `(0, 0)`.
            execution: The stage's execution plan recorded before an interruption
                (:meth:`ExecutionPlan.as_dict`), reused as is; None to choose one.
                Defaults to `None`.
            on_execution: Called with the plan chosen (as a dict) before training starts, so
                that a resume reuses it. Defaults to `None`.

        Returns:
            `history`, `steps` and `epochs` (the stage's in all: a stage resumed from a
            backup counts those before the interruption too), `seconds_before` (fit time
            before the interruption), and, when the best epoch's weights were restored,
            `best_epoch` (1-based, as Keras prints epochs) and `last` (the validation
            numbers of the weights the last epoch ended with), and
            `execution` (the :class:`~kerasopt.recipe.run.execution_plan.ExecutionPlan`, as a dict).
        """
        from kerasopt.recipe.run import assemble
        from kerasopt.recipe.run.run_callbacks import runner_callbacks
        from kerasopt.recipe.store.stage_backup import StageBackup

        training = stage.training
        plan = self.state.plans[stage.index]
        optimizer, lr_auto = self.compile(stage)
        if lr_auto:
            self._apply_lr_finder(optimizer, stage, offset[0])
        callbacks = assemble.build_callbacks(training.callbacks, plan, {"log_dir": self.log_dir})
        recipe_callbacks = list(callbacks)
        keeper = self._best_weights(stage, callbacks)
        added = []
        for technique in self.techniques:
            added += technique.callbacks(self.state, stage, callbacks + added)
        callbacks += added
        callbacks += self.extra_callbacks + self.placement.fit_callbacks(RunInterrupted)
        # First, so that its `on_train_end` sees the final weights before a recipe's
        # EarlyStopping(restore_best_weights=True) puts its best epoch's back.
        callbacks = ([keeper] if keeper is not None else []) + callbacks
        callbacks += runner_callbacks(self.recipe.runtime.tensorboard, plan, self.run_dir,
                                      stage.name, self.log_dir, offset,
                                      backup_minutes=self.recipe.runtime.backup_minutes,
                                      data_epoch=getattr(self.data, "epoch", None))
        backup = next((c for c in callbacks if isinstance(c, StageBackup)), None)
        _add_guard(callbacks, stage, self.recipe.stages, backup)
        class_weight = training.class_weight
        if class_weight == "balanced":
            class_weight = assemble.balanced_class_weight(self.data.y_train, self.data.num_classes or 1)
        chosen = self._plan_execution(stage, plan, callbacks, execution)
        if on_execution is not None:
            on_execution(chosen.as_dict())
        start_step = int(optimizer.iterations.numpy())
        if backup is not None:
            backup.set_model(self.trainee)
        stateful = [c for c in recipe_callbacks + added if callable(getattr(c, "state_dict", None))
                    and callable(getattr(c, "load_state_dict", None))]
        initial_epoch = backup.resume(keeper, stateful) if backup is not None else 0
        train, steps_per_epoch = _training_passes(self.data, chosen.steps_per_execution)
        history = self.trainee.fit(
            train, validation_data=self.data.validation, epochs=plan.epochs, steps_per_epoch=steps_per_epoch,
            callbacks=callbacks, class_weight=class_weight, validation_freq=training.validation_freq,
            verbose=self.recipe.runtime.verbose, shuffle=False, initial_epoch=initial_epoch)
        steps = int(optimizer.iterations.numpy()) - start_step
        result: dict[str, Any] = {
            "history": backup.history if backup is not None else
            {k: [float(v) for v in values] for k, values in history.history.items()},
            "steps": steps, "epochs": initial_epoch + len(history.epoch),
            "seconds_before": backup.seconds_before if backup is not None else 0.0,
            "execution": chosen.as_dict(),
        }
        if keeper is not None and keeper.improves_on_last:
            from kerasopt.recipe.run.session import evaluate

            keeper.model.set_weights(keeper.final_weights)
            result["last"] = evaluate(self.model, self.data)
            keeper.restore()
            result["best_epoch"] = keeper.best_epoch + 1  # 1-based, as Keras prints epochs
        self._hook("after_fit", stage, optimizer)
        return result

    def _plan_execution(self, stage: StageSettings, plan: Any, callbacks: list[Any],
                        recorded: dict[str, Any] | None) -> Any:
        """Choose and apply the stage's `steps_per_execution` and `jit_compile`
        (:mod:`kerasopt.recipe.run.execution_plan`); print a note once if XLA fails on the model."""
        from kerasopt.recipe.run.execution_plan import ExecutionPlan, decide, needs_each_step
        from kerasopt.recipe.run.execution_probe import ExecutionProbe, signature

        training = stage.training
        probe = ExecutionProbe(self.trainee, self.data.train, data_epoch=getattr(self.data, "epoch", None))
        if recorded is not None:
            chosen, note = ExecutionPlan.from_dict(recorded), None
        else:
            per_step = [type(c).__name__ for c in callbacks if needs_each_step(c)]
            distributed = self.placement.replicas > 1 or "multi" in self.placement.strategy_name
            chosen, note = decide(
                training.steps_per_execution, training.jit_compile,
                steps_per_epoch=plan.steps_per_epoch, total_steps=plan.total_steps,
                per_step=list(dict.fromkeys(per_step)), distributed=distributed,
                jit_blocker=self._xla_blocker(), probe=probe,
                signature=signature(self.trainee, self.data.train))
        if note is not None:
            self.xla_failure = note
            print(f"kerasopt: note: {note}", file=sys.stderr)
        probe.finish(chosen)
        self.probe_seconds += probe.seconds
        return chosen

    def _xla_blocker(self) -> str | None:
        """Why XLA is not tried on the trainee, or None."""
        from kerasopt._keras_compat import flatten_layers

        if self.xla_failure is not None:
            return "it failed to compile the model in an earlier stage"
        if self.recipe.runtime.deterministic:
            return "op determinism is on (runtime.deterministic), which XLA does not support"
        unsupported = [layer.name for layer in flatten_layers(self.trainee, include_self=False)
                       if not getattr(layer, "supports_jit", True)]
        if unsupported:
            return f"layers without XLA support: {', '.join(unsupported[:5])}"
        return None

    def _best_weights(self, stage: StageSettings, callbacks: list[Any]) -> Any:
        """A `BestWeights` keeper for the stage, or None (no validation, or not wanted).

        It monitors what the first of the recipe's own `callbacks` that has a `monitor`
        watches (early stopping, plateau), else `val_loss`.
        """
        if not stage.training.restore_best or self.data.validation is None:
            return None
        if any([t.keeps_last_weights(self.state, stage) for t in self.techniques]):  # each is asked
            return None
        from kerasopt.callbacks.best_weights import BestWeights

        watcher = next((c for c in callbacks if isinstance(getattr(c, "monitor", None), str)), None)
        mode = getattr(watcher, "mode", "auto")
        return BestWeights(monitor=watcher.monitor if watcher else "val_loss",
                           mode=mode if mode in ("auto", "min", "max") else "auto", restore=False)

    def end_stage(self, stage: StageSettings) -> None:
        """The techniques' `stage_end` hooks, once the stage's weights are final (fit or loaded)."""
        self._hook("stage_end", stage)

    def finish_training(self) -> None:
        """The techniques' `before_export` hooks: the model becomes what is evaluated and exported.

        Raises:
            Diverged: The model holds non-finite weights (a stage's weights loaded on
                `--resume`, or a technique's hook): nothing is evaluated or exported.
        """
        from kerasopt.recipe.run.divergence_guard import require_finite

        self._hook("before_export")
        require_finite(self.model)

    def precision_and_scaling(self) -> dict[str, Any]:
        """The `mixed_precision` policy in force and the `learning_rate_factor` (metrics.json `runtime`)."""
        import keras

        return {"mixed_precision": keras.mixed_precision.global_policy().name,
                "learning_rate_factor": self.lr_factor}

    def report(self) -> dict[str, Any]:
        """What the techniques add to `metrics.json`."""
        merged: dict[str, Any] = {}
        for technique in self.techniques:
            merged.update(technique.report(self.state))
        return merged

    def _hook(self, name: str, *args: Any) -> None:
        for technique in self.techniques:
            getattr(technique, name)(self.state, *args)

    def _apply_lr_finder(self, optimizer: Any, stage: StageSettings, first_epoch: int) -> None:
        chief = self.run_dir is not None and self.run_dir.is_chief
        plot = self.run_dir.path(f"lr_find_{stage.name}.png") if chief else None
        finder = self.find_learning_rate(str(plot) if plot else None, first_epoch)
        if finder.suggestion is None:
            from kerasopt.recipe.errors import RunFailed

            raise RunFailed(f"learning_rate: auto (stage {stage.name!r}): {finder.no_suggestion_reason}. "
                            "Or set the learning rate to a number.")
        optimizer.learning_rate = float(finder.suggestion)
        print(f"kerasopt: LR range test suggests learning_rate={finder.suggestion:.3g} (stage {stage.name!r})")

    def find_learning_rate(self, plot_path: str | None, first_epoch: int = 0, **finder_args: Any) -> Any:
        """The LR range test (:func:`kerasopt.callbacks.lr_finder.find_learning_rate`) on the
        model and the training passes from `first_epoch` on.

        The sweep reads the endless form of the passes when the data has one: the passes
        `first_epoch, first_epoch + 1, ...`, whatever the strategy. (Under the mirrored and
        multi-worker strategies Keras's `fit` opens an iterator once just to build the model,
        which would number a one-pass dataset's passes on by one; the endless form only
        reads the counter, which is put back afterwards.) So one process, a mirrored
        strategy and every worker of a multi-worker run sweep the same batches.

        Args:
            plot_path: Where the sweep's plot goes, or None.
            first_epoch: The first pass of the sweep. Defaults to `0`.
            **finder_args: `LRFinder` arguments (`min_lr`, `max_lr`, `num_steps`...).
        """
        from kerasopt.callbacks.lr_finder import find_learning_rate

        counter, endless = getattr(self.data, "epoch", None), getattr(self.data, "train_endless", None)
        if counter is None or endless is None:
            return find_learning_rate(self.model, self.data.train, plot_path=plot_path, **finder_args)
        before = int(counter.numpy())
        counter.assign(first_epoch)
        try:
            return find_learning_rate(self.model, endless, plot_path=plot_path, **finder_args)
        finally:
            counter.assign(before)


def _add_guard(callbacks: list[Any], stage: StageSettings, staged: Any, backup: Any) -> None:
    """Put the stage's :class:`~kerasopt.recipe.run.divergence_guard.DivergenceGuard` into `callbacks`:
    first, so no callback saves or keeps weights of an epoch that diverged, or right after the
    recipe's last `DivergenceRecovery`, which then handles the blow-ups."""
    from kerasopt.callbacks.divergence_recovery import DivergenceRecovery
    from kerasopt.recipe.errors import format_path
    from kerasopt.recipe.run.divergence_guard import DivergenceGuard

    recoveries = [c for c in callbacks if isinstance(c, DivergenceRecovery)]
    key = format_path(("stages", stage.index, "training") if staged else ("training",))
    position = callbacks.index(recoveries[-1]) + 1 if recoveries else 0
    callbacks.insert(position, DivergenceGuard(stage.name, key, recoveries, backup))


def _training_passes(data: Any, steps_per_execution: int) -> tuple[Any, int | None]:
    """The training dataset for `fit`, and its `steps_per_epoch`.

    When every epoch ends on an execution boundary (`steps_per_execution` divides the
    batches per pass), the endless form of the passes (`DataBundle.train_endless`): one
    iterator serves the whole `fit`, its prefetching runs on across epoch ends, and the
    epochs are still exactly the passes. Keras 3.15 (`trainers/epoch_iterator.py`) opens a
    finite dataset's iterator anew for every epoch, which for a pipeline with functions
    costs 5-20 ms on a CPU (its functions are instantiated and optimized anew) and empties
    the prefetch buffer: 0.5-0.9 ms per step on the MNIST-1D CNN's 36-batch epochs.
    Otherwise the finite passes, with their known length (without `steps_per_epoch`,
    Keras opens a second iterator per epoch).
    """
    endless = getattr(data, "train_endless", None)
    if endless is not None and data.steps_per_epoch % steps_per_execution == 0:
        return endless, data.steps_per_epoch
    length = int(data.train.cardinality())
    return data.train, length if length > 0 else None
