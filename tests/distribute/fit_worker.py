"""One worker of tests/distribute/test_keras_fixes.py's two-process check (run by LocalWorkers).

Usage: python fit_worker.py OUT_FOLDER. Under MultiWorkerMirroredStrategy (TF_CONFIG set by
the test) it fits a small model three times: with Keras as it is, with only the
symbolic-build correction, and with both corrections; it writes what happened to
OUT_FOLDER/worker-<index>.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasopt import _keras_compat as compat
from kerasopt.data.pipeline import make_dataset
from kerasopt.distribute import keras_fixes
from kerasopt.distribute.device import Placement, select_placement
from kerasopt.distribute.lockstep import weights_divergence
from kerasopt.recipe.run.run_callbacks import DataEpoch


def fit(placement: Placement) -> dict:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.integers(0, 3, 64)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # numbered passes, as in the runner
    data = make_dataset(x, y, batch_size=16, shuffle=True, seed=0, epoch=epoch)
    with placement.strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    try:
        history = model.fit(data, epochs=2, verbose=0, shuffle=False, callbacks=[DataEpoch(epoch)])
    except Exception as err:  # noqa: BLE001 - the point is to record Keras's failure
        return {"error": f"{type(err).__name__}: {err}"[:2000]}
    return {"loss": history.history["loss"], "model": model}


def main(out: str) -> None:
    # First: the strategy must exist before TensorFlow runs anything (importing it is fine).
    placement = select_placement("cpu", "multi_worker")
    results = {"index": placement.role.index, "replicas": placement.replicas}
    results["none"] = fit(placement)
    build, reduce = compat.fit_internals()
    with compat.replaced_fit_internals(keras_fixes._local_symbolic_build(build), reduce):
        results["build_only"] = fit(placement)
    with keras_fixes.multi_worker_fit_fixes() as applied:
        results["applied"] = applied
        both = fit(placement)
    model = both.pop("model")
    results["both"] = both
    results["weights"] = [w.tolist() for w in model.get_weights()]
    results["divergence"] = weights_divergence(placement.strategy, model)
    if placement.role.index == 1:  # put worker 1 out of step by 0.5 in one weight
        weights = model.get_weights()
        weights[0][0, 0] += 0.5
        model.set_weights(weights)
    results["divergence_after_nudge"] = weights_divergence(placement.strategy, model)
    Path(out, f"worker-{placement.role.index}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
