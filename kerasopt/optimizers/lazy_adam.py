"""LazyAdam: Adam that updates only the embedding rows a sparse gradient touches."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt._keras_compat import adam_slots, variable_index
from kerasopt.optimizers._adaptive_base import (
    AdaptiveOptimizer,
    check_bool,
    check_float,
    check_weight_decay,
    step_scalar,
)
from kerasopt.optimizers._sparse import is_sparse, row_slices
from kerasopt.registry import register


@register("optimizer")
class LazyAdam(AdaptiveOptimizer, keras.optimizers.Adam):
    """Adam that, for sparse gradients, updates only the rows present in the batch.

    For a large embedding table, Adam's update of every row at every step is slow
    and moves rows whose tokens were not seen (their momentum keeps pushing them).
    LazyAdam, as TF Addons' `LazyAdam` did, applies the Adam update of
    Kingma & Ba (2015), Algorithm 1 (with Keras's epsilon-hat placement of the
    formula just before Section 2.1), only to the rows indexed by a sparse gradient
    (`tf.IndexedSlices`, which the TensorFlow backend produces for `Embedding` and
    `ops.take` lookups): their first and second moments and their weights. Rows not
    in the batch keep their weights, moments and (with `amsgrad`) maxima exactly.
    Repeated indices are summed first. Dense gradients (and all gradients on the JAX
    and torch backends) get exactly `keras.optimizers.Adam`'s update.

    This is an approximation of Adam for sparse data: a row's moments decay only on
    the steps where it appears, while the bias correction uses the global step.

    `weight_decay` (decoupled, AdamW style: w -= lr weight_decay w before the step)
    is also lazy: for a sparse gradient only the rows in the batch decay.
    `gradient_accumulation_steps` sums gradients into dense accumulators, so with it
    every update is a dense one.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments returning the rate. Defaults to `0.001`.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: Decay rate of the second moment, in [0, 1). Defaults to `0.999`.
        epsilon: Keras Adam's "epsilon hat", added to sqrt(v). Defaults to `1e-7`.
        amsgrad: Whether to divide by the running maximum of v. Defaults to `False`.
        weight_decay: Decoupled weight decay rate, lazy for sparse gradients, or
            None. Defaults to `None`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.lazy_adam import LazyAdam

        model = keras.Sequential([
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(1000, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer=LazyAdam(learning_rate=1e-3), loss="mse")
        ```
    """

    decay_in_update_rule = True
    lazy_sparse_updates = True

    def __init__(
        self,
        learning_rate: float | Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_float("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        check_float("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        check_float("epsilon", epsilon, low=0.0)
        check_bool("amsgrad", amsgrad)
        check_weight_decay(weight_decay)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self._remember(learning_rate)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply Adam to the rows of a sparse gradient, or to the whole dense variable."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        decay = self._decay_rate(variable)
        if not is_sparse(gradient):
            if decay is not None:
                self.assign_sub(variable, ops.multiply(variable, lr * ops.cast(decay, dtype)))
            super().update_step(gradient, variable, learning_rate)
            return

        # `apply` merged repeated indices: each row appears once, its values summed.
        rows, dense_shape = gradient.indices, gradient.dense_shape
        values = ops.cast(gradient.values, dtype)
        index = variable_index(self, variable)
        step = self._step()
        bias_1 = 1.0 - ops.power(step_scalar(self.beta_1), step)
        bias_2 = 1.0 - ops.power(step_scalar(self.beta_2), step)
        alpha = lr * ops.cast(ops.sqrt(bias_2) / bias_1, dtype)

        momentums, velocities, velocity_hats = adam_slots(self)
        m, v = momentums[index], velocities[index]
        m_rows = ops.take(m, rows, axis=0)
        m_rows = ops.add(m_rows, ops.multiply(ops.subtract(values, m_rows), 1.0 - self.beta_1))
        v_rows = ops.take(v, rows, axis=0)
        v_rows = ops.add(
            v_rows, ops.multiply(ops.subtract(ops.square(values), v_rows), 1.0 - self.beta_2)
        )
        self.assign(m, row_slices(m_rows, rows, dense_shape))
        self.assign(v, row_slices(v_rows, rows, dense_shape))
        if self.amsgrad:
            v_hat = velocity_hats[index]
            v_rows = ops.maximum(ops.take(v_hat, rows, axis=0), v_rows)
            self.assign(v_hat, row_slices(v_rows, rows, dense_shape))

        delta = ops.divide(ops.multiply(m_rows, alpha), ops.add(ops.sqrt(v_rows), self.epsilon))
        if decay is not None:
            w_rows = ops.take(variable, rows, axis=0)
            delta = ops.add(delta, ops.multiply(w_rows, lr * ops.cast(decay, dtype)))
        self.assign_sub(variable, row_slices(delta, rows, dense_shape))
