"""The TensorFlow pass behind `GradientMonitor`: gradients on a probe batch, side-effect free."""

from __future__ import annotations

from typing import Any

import keras


class GradientProbe:
    """Per-variable squared norms of gradients, weights and weight changes, in one tf.function.

    Each call runs the model in training mode on the probe batch under
    `tf.GradientTape`, computes the compiled loss (`model.compute_loss`, regularizers
    included), and returns `(grad_sq, weight_sq, delta_sq, grads)`: squared L2 norms per
    trainable variable of its gradient, of its value and of its change since the
    previous call (held in a copy of the weights), and the gradients themselves when
    `histograms` is set (else an empty list). Every non-trainable and metric variable
    (batch-norm statistics, seed states, loss trackers) is assigned back inside the same
    function, so the pass changes nothing in training. TensorFlow backend only.

    Args:
        model: The (built, compiled) model.
        x: Probe inputs.
        y: Probe targets. Defaults to `None`.
        sample_weight: Probe sample weights. Defaults to `None`.
        histograms: Also return the gradients. Defaults to `False`.

    Attributes:
        layers: Layer name of each trainable variable (path without the model's name).
        tags: Histogram tag of each trainable variable, `gradients/<layer>/<name>`.
    """

    def __init__(self, model: keras.Model, x: Any, y: Any = None, sample_weight: Any = None,
                 *, histograms: bool = False) -> None:
        import tensorflow as tf

        self.variables = list(model.trainable_variables)
        state = list(model.non_trainable_variables) + list(model.metrics_variables)
        self.layers = [_layer_name(v.path, model.name) for v in self.variables]
        self.tags = [f"gradients/{layer}/{v.name}" for layer, v in zip(self.layers, self.variables, strict=True)]
        previous = [tf.Variable(v.value, trainable=False) for v in self.variables]
        self._inputs = tuple(None if a is None else keras.tree.map_structure(
            tf.convert_to_tensor, a) for a in (x, y, sample_weight))
        variables = self.variables

        def square(t: Any) -> Any:
            return tf.reduce_sum(tf.square(tf.cast(t, "float32")))

        @tf.function
        def run(x: Any, y: Any, sample_weight: Any) -> Any:
            saved = [tf.identity(v.value) for v in state]
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                          training=True)
            grads = tape.gradient(loss, variables)
            for v, value in zip(state, saved, strict=True):
                v.assign(value)
            grads = [tf.zeros_like(v.value) if g is None else g for g, v in zip(grads, variables, strict=True)]
            grad_sq = tf.stack([square(g) for g in grads])
            weight_sq = tf.stack([square(v.value) for v in variables])
            delta_sq = tf.stack([square(v.value - p) for v, p in zip(variables, previous, strict=True)])
            for v, p in zip(variables, previous, strict=True):
                p.assign(v.value)
            return grad_sq, weight_sq, delta_sq, (grads if histograms else [])

        self._run = run

    def __call__(self) -> Any:
        """Run the pass; returns `(grad_sq, weight_sq, delta_sq, grads)` as tensors."""
        return self._run(*self._inputs)


def _layer_name(path: str, model_name: str) -> str:
    """`"sequential/dense_1/kernel"` -> `"dense_1"`: the variable's layer, without the model."""
    layer = path.rsplit("/", 1)[0] if "/" in path else path
    prefix = model_name + "/"
    return layer[len(prefix):] if layer.startswith(prefix) else layer
