"""`Distiller`: a Keras model that trains a student on labels and on a frozen teacher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerasopt._keras_compat import loss_reduction_module
from kerasopt.compression.distillation import _checks, _features, _outputs
from kerasopt.compression.distillation._label_loss import LabelLoss
from kerasopt.compression.distillation.logits_distillation import LogitsDistillation
from kerasopt.compression.pruning import PruneLowMagnitude
from kerasopt.models.layer_walk import all_layers
from kerasopt.registry import register
from kerasopt.schedules._common import check_choice

Strategy = keras.distillation.DistillationLoss


def _check_strategies(strategies: Any) -> list[Strategy]:
    if strategies is None:
        return [LogitsDistillation()]
    if isinstance(strategies, Strategy):
        return [strategies]
    if (isinstance(strategies, (str, bytes)) or not isinstance(strategies, Sequence) or not strategies
            or not all(isinstance(s, Strategy) for s in strategies)):
        raise ValueError("`strategies` must be a non-empty list of keras.distillation.DistillationLoss "
                         "objects (LogitsDistillation, FeatureDistillation, or Keras's own), or None. "
                         f"Received: strategies={strategies!r}")
    return list(strategies)


def _replica_mean_loss(value: Any, count: Any) -> Any:
    """`value`, a mean over this replica's `count` samples, reduced as Keras reduces a mean loss.

    Keras's loss reduction (`reduce_values`, which every `keras.losses.Loss` calls) divides a
    replica's mean by the replica count under a `tf.distribute` strategy, and kerasopt's
    :func:`~kerasopt.distribute.global_batch_loss.global_batch_mean_loss` gives it the
    gradient of the global batch's mean when the replicas hold unequal shares. The
    strategies' losses are scalars already averaged over the samples, so the mean is
    repeated once per sample and handed to that reduction: on one device it returns the
    mean unchanged; on a replica without samples, 0 (not the NaN of an empty mean).
    """
    return loss_reduction_module().reduce_values(ops.broadcast_to(ops.cast(value, "float32"), (count,)))


@register("layer")
class Distiller(keras.Model):
    """Train a student on the labels and on what a frozen teacher outputs (knowledge distillation).

    The loss, with `alpha` and each strategy's temperature read at the current optimizer
    step, is

        total = alpha · L_distill + (1 − alpha) · L_labels + student regularization,
        L_distill = Σ_i weight_i · L_i,

    where `L_i` are the strategies' losses (:class:`LogitsDistillation`: `T² · KL` of the
    softened distributions; :class:`FeatureDistillation`: MSE between adapted student and
    teacher features; other `keras.distillation.DistillationLoss` objects with weight 1),
    and `L_labels` is the loss given to :meth:`compile`, on the student's output and the
    labels (with sample weights). Regularization losses of the student (and adapters) are
    added unweighted. Hinton et al. 2015 weight the soft term `alpha` and the hard term
    `1 − alpha`; `alpha = 1` trains on the teacher alone (then labels may be absent).

    **Logits or probabilities.** Every logits strategy receives logits. A model whose last
    layer is a softmax (a `Dense(..., activation="softmax")`, a `Softmax` or an
    `Activation("softmax")` layer, also inside pruning or QAT wrappers) is read as
    outputting probabilities, and its logits are taken as `log(p)`: for `p = softmax(z)`
    that is `z − logsumexp(z)`, a per-sample shift, so `softmax(log(p)/T) = softmax(z/T)`
    exactly for any `T` (up to float32 rounding, while no probability underflows below
    1e-30, i.e. logit gaps under ~69). A linear last layer is read as logits. Anything else
    (sigmoid, a subclassed model) must be declared with `teacher_output` /
    `student_output`. The label loss sees the student's output unchanged.

    **Teacher.** Set `trainable = False` (this changes the teacher model passed in) and
    always called with `training=False`; no gradient reaches it. It must not hold pruning
    wrappers (`strip_pruning` it first; the pruning callback would keep pruning it).

    **Student.** Trained in place: `distiller.student` is the model passed in, and the
    model to export afterwards; adapters and teacher stay in the distiller. Predictions,
    metrics and `predict()` are the student's. With feature strategies the student runs
    once per step through a model returning both its output and the hint layers' outputs.

    Training: `compile(optimizer, loss=<label loss>, metrics=[...])` then `fit(x, y)`;
    logs hold `loss` (the total), `distillation_loss` (`L_distill`), `label_loss` (each a
    mean over the samples, like Keras's `loss`; under a `tf.distribute` strategy, over the
    global batch, as on one device) and the compiled metrics of the student. `evaluate` reports the same total loss.
    Callbacks that walk `model.layers` (pruning's `UpdatePruning`) find the student
    nested inside.

    Saving: the whole distiller round-trips through `.keras` (`safe_mode=True`) with its
    teacher, student, adapters and compile settings. To export, save
    `distiller.student` alone.

    Args:
        student: The Keras model to train (Functional or Sequential with inputs for
            feature strategies; any model for logits distillation).
        teacher: A trained Keras model taking the same inputs.
        strategies: A list of distillation strategies, a single one, or None for
            `[LogitsDistillation()]` (T = 4). Defaults to `None`.
        alpha: Weight of the distillation loss in [0, 1] (labels get `1 − alpha`), or a
            `keras.optimizers.schedules.LearningRateSchedule` of the step whose values stay
            in [0, 1] (step 0 is checked). Defaults to `0.9`.
        teacher_output: `"auto"`, `"logits"` or `"probabilities"`: what the teacher
            outputs (see above). Defaults to `"auto"`.
        student_output: The same for the student. Defaults to `"auto"`.
        name: The distiller's name. Defaults to `"distiller"`.
        **kwargs: Further `keras.Model` arguments.

    Raises:
        ValueError: For a bad argument; teacher and student outputs that logits
            distillation cannot match (different classes); a feature layer missing from
            either model (with close names); feature shapes that cannot be adapted; an
            output kind that `"auto"` cannot tell; a pruning-wrapped teacher.

    Example:
        >>> import numpy as np
        >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> distiller = Distiller(student, teacher, [LogitsDistillation(temperature=2.0)], alpha=0.5)
        >>> distiller.compile("sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = distiller.fit(np.ones((8, 4)), np.zeros(8), epochs=1, verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'distillation_loss', 'label_loss', 'loss']
        >>> distiller.student is student
        True
    """

    def __init__(self, student: keras.Model, teacher: keras.Model,
                 strategies: Strategy | Sequence[Strategy] | None = None,
                 alpha: float | keras.optimizers.schedules.LearningRateSchedule = 0.9,
                 teacher_output: str = "auto", student_output: str = "auto",
                 name: str = "distiller", **kwargs: Any) -> None:
        for role, model in (("student", student), ("teacher", teacher)):
            if not isinstance(model, keras.Model):
                raise ValueError(f"`{role}` must be a keras.Model. Received: {role} of type "
                                 f"{type(model).__module__}.{type(model).__qualname__}")
        if student is teacher:
            raise ValueError(f"`student` and `teacher` are the same model ({student.name!r}); "
                             "distill into a separate student.")
        _checks.check_scheduled("alpha", alpha, low=0.0, low_open=False, high=1.0)
        check_choice("teacher_output", teacher_output, _outputs.OUTPUT_KINDS)
        check_choice("student_output", student_output, _outputs.OUTPUT_KINDS)
        strategies = _check_strategies(strategies)
        wrapped = [layer.name for layer in all_layers(teacher) if isinstance(layer, PruneLowMagnitude)]
        if wrapped:
            raise ValueError(f"The teacher {teacher.name!r} holds pruning wrappers ({', '.join(wrapped)}). "
                             "Pass kerasopt.compression.pruning.strip_pruning(teacher) instead.")
        for strategy in strategies:  # Keras's own strategies check their layer names here
            strategy.validate_model_compatibility(teacher, student)
        super().__init__(name=name, **kwargs)
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.strategies, self.alpha = strategies, alpha
        self.teacher_output, self.student_output = teacher_output, student_output
        self._kinds = self._output_kinds()
        plan = _features.FeaturePlan(self.strategies, student, teacher)
        self._slots = plan.slots
        self.adapters = plan.adapters
        self._student_features, self._teacher_features = plan.student_model, plan.teacher_model
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.label_loss_tracker = keras.metrics.Mean(name="label_loss")
        self._label_loss: LabelLoss | None = None
        self._stash: tuple[Any, Any] | None = None
        self.built = True

    def _output_kinds(self) -> tuple[str, str] | None:
        """(teacher, student) output kinds when a logits strategy needs them, after shape checks."""
        final = [s for s in self.strategies if _features.layer_names(s) == (None, None)]
        if not final:
            return None
        for role, model in (("teacher", self.teacher), ("student", self.student)):
            if getattr(model, "outputs", None) is not None and len(model.outputs) != 1:
                raise ValueError(f"Distillation of final outputs needs single-output models; the {role} "
                                 f"{model.name!r} has {len(model.outputs)} outputs.")
        if getattr(self.teacher, "outputs", None) and getattr(self.student, "outputs", None):
            for strategy in final:
                strategy.validate_outputs(self.teacher.outputs[0], self.student.outputs[0])
        if not any(isinstance(s, LogitsDistillation) for s in final):
            return None
        return (_outputs.output_kind(self.teacher, self.teacher_output, "teacher"),
                _outputs.output_kind(self.student, self.student_output, "student"))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The student's output (the hint layers' outputs are kept for the loss of this step)."""
        if self._student_features is None:
            return self.student(inputs, training=training)
        result = self._student_features(inputs, training=training)
        self._stash = (result["output"], result["features"])
        return result["output"]

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                **kwargs: Any) -> None:
        """Configure training: the optimizer (student and adapters), the label loss and metrics.

        Args:
            optimizer: A Keras optimizer or its name. Defaults to `"rmsprop"`.
            loss: The label loss `L_labels` on the student's output: a Keras loss name,
                `keras.losses.Loss` or function `(y_true, y_pred)`. Needed unless
                `alpha` is the number 1.0. Defaults to `None`.
            metrics: Metrics of the student's output, as for `keras.Model.compile`.
                Defaults to `None`.
            **kwargs: Further `keras.Model.compile` arguments (`steps_per_execution`,
                `jit_compile`, `weighted_metrics`...; not `loss_weights`).

        Raises:
            ValueError: If `loss` is missing while labels carry weight, or is not a single
                loss, or `loss_weights` is given.
        """
        if kwargs.pop("loss_weights", None) is not None:
            raise ValueError("Distiller.compile takes no `loss_weights`: the label loss is weighted "
                             "by 1 - alpha.")
        if loss is None and not (isinstance(self.alpha, (int, float)) and self.alpha == 1):
            raise ValueError(f"Distiller.compile needs a label `loss` because alpha={self.alpha!r} gives "
                             "the labels weight 1 - alpha; pass e.g. loss='sparse_categorical_crossentropy'"
                             ", or use alpha=1.0 to train on the teacher alone.")
        self._label_loss = None if loss is None else LabelLoss(loss)
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def get_compile_config(self) -> dict[str, Any]:
        """Keras's compile config with the label loss in it (for `.keras` files)."""
        config = super().get_compile_config()
        if config and self._label_loss is not None:
            config["loss"] = self._label_loss.serialized()
        return config

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile from :meth:`get_compile_config` (when a `.keras` file is loaded)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def _student_side(self, x: Any, y_pred: Any, training: bool) -> list[Any]:
        if self._student_features is None:
            return []
        stash, self._stash = self._stash, None
        if stash is not None and stash[0] is y_pred:
            return list(stash[1])
        return list(self._student_features(x, training=training)["features"])

    def _teacher_side(self, x: Any) -> tuple[Any, list[Any]]:
        if self._teacher_features is None:
            return ops.stop_gradient(self.teacher(x, training=False)), []
        result = self._teacher_features(x, training=False)
        return (ops.stop_gradient(result["output"]),
                [ops.stop_gradient(f) for f in result["features"]])

    def distillation_loss(self, x: Any, y_pred: Any, step: Any = 0, training: bool = False) -> Any:
        """`L_distill = Σ_i weight_i · L_i` for a batch `x` and the student's output `y_pred`.

        Args:
            x: The input batch.
            y_pred: The student's output on `x`.
            step: The step at which schedules are read. Defaults to `0`.
            training: The mode the student runs in when its features must be recomputed.
                Defaults to `False`.

        Returns:
            A float32 scalar.
        """
        student_features = self._student_side(x, y_pred, training)
        teacher_out, teacher_features = self._teacher_side(x)
        if self._kinds is not None:
            teacher_logits = _outputs.to_logits(teacher_out, self._kinds[0])
            student_logits = _outputs.to_logits(y_pred, self._kinds[1])
        total = ops.zeros((), "float32")
        for strategy, slot in zip(self.strategies, self._slots, strict=True):
            if slot is None and isinstance(strategy, LogitsDistillation):
                loss = strategy.compute_loss(teacher_logits, student_logits, step=step)
            elif slot is None:
                loss = strategy.compute_loss(teacher_out, y_pred)
            else:
                features = student_features[slot[0]]
                if slot[2] >= 0:
                    features = self.adapters[slot[2]](features)
                loss = strategy.compute_loss(teacher_features[slot[1]], features)
            total = total + getattr(strategy, "weight", 1.0) * ops.cast(loss, "float32")
        return total

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        """Return `alpha · L_distill + (1 − alpha) · L_labels + regularization` (see the class).

        Under a `tf.distribute` strategy with `R` replicas the value follows Keras's
        convention for a replica's loss (divided by `R`, so the gradients Keras sums over
        replicas are those of the global batch): `L_labels` is reduced by Keras's loss
        reduction, `L_distill` (a mean over this replica's samples) is reduced the same way
        (:func:`_replica_mean_loss`), and regularization is divided by `R` as Keras divides
        it. The `distillation_loss` and `label_loss` logs are updated, like Keras's `loss`,
        with the undivided values weighted by the replica's sample count, so they are the
        means over the global batch, as on one device.
        """
        if y_pred is None:
            y_pred = self(x, training=training)
        losses = loss_reduction_module()
        count = ops.shape(next(i for i in keras.tree.flatten(x if x is not None else y_pred)
                               if i is not None))[0]  # this replica's samples, as Keras counts them
        step = self.optimizer.iterations if self.optimizer is not None else 0
        alpha = _checks.value_at(self.alpha, step)
        fixed = isinstance(self.alpha, (int, float))
        distill = (ops.zeros((), "float32") if fixed and alpha == 0
                   else _replica_mean_loss(self.distillation_loss(x, y_pred, step, training), count))
        labels = ops.zeros((), "float32")
        if not (fixed and alpha == 1):
            if self._label_loss is None or y is None:
                raise ValueError(f"alpha={self.alpha!r} weights the labels, but "
                                 f"{'no labels were given' if y is None else 'no label loss was compiled'}.")
            labels = ops.cast(self._label_loss(y, y_pred, sample_weight), "float32")
        total = alpha * distill + (1.0 - alpha) * labels
        for extra in self.student.losses + [loss for a in self.adapters for loss in a.losses]:
            total = total + losses.scale_loss_for_distribution(ops.sum(ops.cast(extra, "float32")))
        self.distillation_loss_tracker.update_state(losses.unscale_loss_for_distribution(distill),
                                                    sample_weight=count)
        self.label_loss_tracker.update_state(losses.unscale_loss_for_distribution(labels),
                                             sample_weight=count)
        return total

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (models, strategies and a schedule serialized)."""
        serialize = keras.saving.serialize_keras_object
        return {"student": serialize(self.student), "teacher": serialize(self.teacher),
                "strategies": [serialize(s) for s in self.strategies],
                "alpha": _checks.serialize_scheduled(self.alpha),
                "teacher_output": self.teacher_output, "student_output": self.student_output,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Distiller:
        """Rebuild the distiller (fresh weights; `.keras` loading restores them)."""
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("student", "teacher"):
            config[key] = deserialize(config[key])
        config["strategies"] = [deserialize(s) for s in config["strategies"]]
        config["alpha"] = _checks.deserialize_scheduled(config["alpha"])
        return cls(**config)
