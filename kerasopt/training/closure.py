"""A train step that hands optimizers a closure: loss, gradients and Hessian-vector products.

Some optimizers need more than the one gradient Keras's stock train step computes: SAM needs
a second gradient at perturbed weights, AdaHessian a Hessian-vector product, both on the same
batch. Such optimizers declare `requires_closure = True` and implement
`apply_with_closure(closure, trainable_variables)`. `enable_closure(model)` patches one model
instance so that its train step calls that method with a `Closure` bound to the batch;
every other optimizer runs through the model's own, unchanged train step.

TensorFlow backend only (`tf.GradientTape`, nested tapes for Hessian-vector products).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras

from kerasopt._backend import require_tensorflow
from kerasopt._keras_compat import (
    call_has_training_arg,
    compute_loss,
    flatten_layers,
    loss_tracker,
    symbolic_build,
    unscale_loss_for_distribution,
)


def _batch_norm_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in flatten_layers(model, include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


class Closure:
    """Recomputes the training loss and its gradients on one batch, at the current weights.

    The first evaluation is the step's forward pass: it updates the model's loss tracker
    and batch-norm moving statistics, and its predictions feed the compiled metrics (as in
    Keras's stock `train_step`). Later evaluations (for example SAM's, at perturbed
    weights) leave the loss tracker and batch-norm moving statistics alone. The loss
    includes `compute_loss` (compiled loss, sample weights, regularization and `add_loss`
    losses); gradients are taken of `optimizer.scale_loss(loss)`, so the optimizer's `apply`
    unscales them as usual.

    Args:
        model: The model being trained (TensorFlow backend).
        x: Input batch.
        y: Target batch. Defaults to `None`.
        sample_weight: Sample weights of the batch. Defaults to `None`.
        gradient_transform: Applied to the gradient list before it is returned (wrappers use
            it, for example GradientCentralization around a closure optimizer). Defaults to
            `None`.

    Example:
        ```python
        closure = Closure(model, x, y)
        loss, grads = closure()
        loss, grads, hvps = closure.hessian_vector_product(vectors)
        ```
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        gradient_transform: Callable[[list[Any]], list[Any]] | None = None,
    ) -> None:
        require_tensorflow("kerasopt.training.Closure")
        self.model = model
        self.x = x
        self.y = y
        self.sample_weight = sample_weight
        self.gradient_transform = gradient_transform
        self._shared = {"y_pred": None, "calls": 0}

    @property
    def y_pred(self) -> Any:
        """Predictions of the first evaluation (at the weights the step started from)."""
        if self._shared["calls"] == 0:
            raise RuntimeError(
                "The optimizer never evaluated the closure, so the step has no predictions."
            )
        return self._shared["y_pred"]

    def with_gradient_transform(self, transform: Callable[[list[Any]], list[Any]]) -> Closure:
        """A closure on the same batch whose gradients also pass through `transform`."""
        inner = self.gradient_transform
        chained = transform if inner is None else (lambda grads: transform(inner(grads)))
        other = Closure(self.model, self.x, self.y, self.sample_weight, chained)
        other._shared = self._shared
        return other

    def _loss(self) -> tuple[Any, Any]:
        import tensorflow as tf

        model = self.model
        first = self._shared["calls"] == 0
        frozen = [] if first else _batch_norm_layers(model)
        momenta = [layer.momentum for layer in frozen]
        for layer in frozen:
            layer.momentum = 1.0  # moving = moving * 1 + batch * 0: statistics unchanged
        try:
            if call_has_training_arg(model):
                y_pred = model(self.x, training=True)
            else:
                y_pred = model(self.x)
        finally:
            for layer, momentum in zip(frozen, momenta, strict=True):
                layer.momentum = momentum
        loss = compute_loss(model, self.x, self.y, y_pred, self.sample_weight, training=True)
        if first:
            batch = next(i for i in tf.nest.flatten(self.x) if i is not None)
            loss_tracker(model).update_state(
                unscale_loss_for_distribution(loss), sample_weight=tf.shape(batch)[0]
            )
            self._shared["y_pred"] = y_pred
        self._shared["calls"] += 1
        scaled = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
        return loss, scaled

    def _transform(self, grads: list[Any]) -> list[Any]:
        return grads if self.gradient_transform is None else self.gradient_transform(grads)

    def __call__(self) -> tuple[Any, list[Any]]:
        """Evaluate loss and gradients at the current weights.

        Returns:
            `(loss, grads)`: the unscaled loss and the gradients of the scaled loss with
            respect to `model.trainable_variables` (None for unconnected variables).
        """
        import tensorflow as tf

        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss, scaled = self._loss()
        return loss, self._transform(tape.gradient(scaled, variables))

    def hessian_vector_product(self, vectors: Sequence[Any]) -> tuple[Any, list[Any], list[Any]]:
        """Evaluate loss, gradients and Hessian-vector products `H v` by double backprop.

        Args:
            vectors: One tensor per trainable variable, with its shape.

        Returns:
            `(loss, grads, hvps)`; `hvps` are of the scaled loss, zeros where a variable does
            not enter the gradient.
        """
        import tensorflow as tf

        variables = self.model.trainable_variables
        if len(vectors) != len(variables):
            raise ValueError(
                f"`vectors` must hold one tensor per trainable variable ({len(variables)}). "
                f"Received: {len(vectors)} tensors"
            )
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss, scaled = self._loss()
            grads = inner.gradient(scaled, variables)
            products = [tf.reduce_sum(g * tf.stop_gradient(tf.cast(v, g.dtype)))
                        for g, v in zip(grads, vectors, strict=True) if g is not None]
            dot = tf.add_n(products) if products else tf.constant(0.0)
        hvps = outer.gradient(dot, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, self._transform(grads), hvps


def _closure_train_step(model: keras.Model, data: Any) -> Any:
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if not all(layer.built for layer in flatten_layers(model)):
        # Keras's TF trainer builds an unbuilt (subclassed) model lazily, inside its first
        # forward pass; the closure needs the variables first, so build it symbolically
        # here (trace time only, as Keras does under a distribution strategy).
        symbolic_build(model, data)
    closure = Closure(model, x, y, sample_weight)
    variables = model.trainable_weights
    if variables:
        model.optimizer.apply_with_closure(closure, variables)
    else:
        warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        closure()
    return model.compute_metrics(x, y, closure.y_pred, sample_weight=sample_weight)


def enable_closure(model: keras.Model) -> keras.Model:
    """Give a model a train step that serves optimizers needing a closure.

    Patches this model instance (Sequential, functional or subclassed; no subclassing
    needed). At each step, if `model.optimizer.requires_closure` is true, the step builds a
    `Closure` on the batch and calls `optimizer.apply_with_closure(closure, variables)`,
    then updates the compiled metrics with the first pass's predictions, as Keras's stock
    step does; otherwise it runs the model's own `train_step` unchanged (same numbers).
    Calling it twice is harmless, and `compile` may be called before or after. The patch is
    not saved in `.keras` files: call it again on a loaded model before training.

    Args:
        model: A Keras 3 model on the TensorFlow backend.

    Returns:
        The same model, patched.

    Under a distribution strategy each replica's closure evaluates its share of the
    global batch; the optimizers sum what they need over replicas (SAM its ascent
    gradient, AdaHessian its Hessian-vector product), so the step is the one-device step.
    Under the mixed_float16 policy Keras wraps the optimizer in a `LossScaleOptimizer`,
    which cannot serve a closure: the first step then raises a `ValueError`.

    Raises:
        ValueError: If `model` is not a `keras.Model` or the backend is not TensorFlow.

    Example:
        ```python
        model.compile(optimizer=SAM(keras.optimizers.Adam()), loss="mse")
        kerasopt.training.enable_closure(model).fit(x, y)
        ```
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must be a Keras 3 `keras.Model`. Received: model of type "
            f"{type(model).__module__}.{type(model).__qualname__}"
        )
    require_tensorflow("kerasopt.training.enable_closure")
    if getattr(model, "_kerasopt_closure_enabled", False):
        return model
    own_step = model.train_step
    custom = type(model).train_step is not keras.Model.train_step

    def train_step(data: Any) -> Any:
        optimizer = model.optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and getattr(
                optimizer.inner_optimizer, "requires_closure", False):
            raise ValueError(
                f"{type(optimizer.inner_optimizer).__name__} cannot train under the "
                "mixed_float16 policy: Keras's compile wrapped it in a LossScaleOptimizer, which "
                "cannot serve the closure it needs. Use the mixed_bfloat16 policy (no loss "
                "scaling), float32, or compile(..., auto_scale_loss=False).")
        if not getattr(optimizer, "requires_closure", False):
            return own_step(data)
        if custom:
            raise ValueError(
                f"{type(model).__qualname__} overrides `train_step`, so enable_closure cannot "
                f"serve {type(model.optimizer).__name__}: in your train_step, call "
                "`self.optimizer.apply_with_closure(Closure(self, x, y, sample_weight), "
                "self.trainable_variables)` (kerasopt.training.closure.Closure)."
            )
        return _closure_train_step(model, data)

    model.train_step = train_step
    model._kerasopt_closure_enabled = True
    model.train_function = None
    return model
