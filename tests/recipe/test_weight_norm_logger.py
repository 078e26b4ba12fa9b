"""The runner's WeightNormLogger writes each layer's L2 weight norm per epoch, at the stage's offset."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerasopt.recipe.run.run_callbacks import WeightNormLogger


class _Snapshot(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.norms: list[dict[str, float]] = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.norms.append({layer.name: float(np.sqrt(sum(np.sum(np.square(w)) for w in layer.get_weights())))
                           for layer in self.model.layers if layer.trainable_weights})


def test_norms_match_numpy_at_offset_steps_and_skip_weightless_layers(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a"), keras.layers.Dropout(0.1),
                              keras.layers.Dense(1, use_bias=False, name="b")])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    snapshot = _Snapshot()
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, x[:, :1] * 2.0, batch_size=4, epochs=3, verbose=0,
              callbacks=[WeightNormLogger(str(tmp_path), initial_epoch=5), snapshot])
    events = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    events.Reload()
    assert sorted(events.Tags()["tensors"]) == ["weight_norm/a", "weight_norm/b"]
    for name in ("a", "b"):
        logged = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors(f"weight_norm/{name}")]
        assert [step for step, _ in logged] == [5, 6, 7]
        np.testing.assert_allclose([value for _, value in logged], [n[name] for n in snapshot.norms], rtol=1e-6)
    assert snapshot.norms[0]["a"] != snapshot.norms[-1]["a"]  # the weights moved between epochs
