"""Predictions from one process, for models built under a multi-worker strategy."""

from __future__ import annotations

from typing import Any

import keras


def predict_locally(model: keras.Model, x: Any, batch_size: int | None = None) -> Any:
    """`model.predict(x)`, computed in this process alone.

    A model built under `tf.distribute.MultiWorkerMirroredStrategy` gathers its
    predictions from every worker, so its `predict` waits until all workers call it. The
    chief's exports verify on its own, so this predicts with a copy of the model made
    outside the strategy (same weights). Any other model predicts as usual.

    Args:
        model: The model.
        x: The inputs.
        batch_size: As in `Model.predict`. Defaults to `None` (Keras's 32).

    Returns:
        The predictions, as `Model.predict` returns them.

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> model.set_weights([np.array([[1.0], [2.0]], "float32")])
        >>> predict_locally(model, np.array([[1.0, 1.0]], "float32"))
        array([[3.]], dtype=float32)
    """
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        model = copy
    return model.predict(x, batch_size=batch_size, verbose=0)
