"""The tfmot side of `compression_vs_tfmot.py`: run in its own process (tf_keras, Keras 2).

Importing tensorflow_model_optimization switches the process to Keras 2, so this script is
only ever started as a subprocess. It trains the same CNN as `recipes/mnist1d_compress.yaml`
(a Conv2D with (k, 1) kernels stands in for Conv1D, which tfmot's QAT rejects), prunes it
with tfmot's polynomial schedule, fine-tunes with prune-preserving QAT, converts float and
int8 TFLite files and measures them with the LiteRT interpreter. Prints one JSON object.

Optional settings: `"weights"`, an `.npz` of the trained kernels and biases in layer order
(`arr_0`, `arr_1`, ...; Conv1D kernels are reshaped to the (k, 1) Conv2D ones), starts from
that model instead of training one (`deploy_frontier.py` hands over the kerasopt model it
trained, so every file comes from one float model); `"input_1d": true` gives the model a
(40, 1) input reshaped inside the model, like kerasopt's Conv1D files.

Usage: python benchmarks/_tfmot_peer.py '{"epochs": 30, ...}' OUTPUT_DIR
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras as keras  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from mnist1d.data import get_dataset_args, make_dataset  # noqa: E402


def model_2d(dropout: float, input_1d: bool = False) -> keras.Model:
    """Three convs of width 64 (kernel 3, first with stride 2), Dense 128, Dense 10: 190,218 parameters."""
    entry = [keras.Input((40, 1)), keras.layers.Reshape((40, 1, 1))] if input_1d else [keras.Input((40, 1, 1))]
    return keras.Sequential([
        *entry,
        keras.layers.Conv2D(64, (3, 1), strides=(2, 1), padding="same", activation="relu"),
        keras.layers.Conv2D(64, (3, 1), padding="same", activation="relu"),
        keras.layers.Conv2D(64, (3, 1), padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(10, activation="softmax"),
    ])


def tflite_accuracy(path: str, x: np.ndarray, y: np.ndarray) -> float:
    interpreter = Interpreter(model_path=path)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    return float(np.mean(interpreter.get_tensor(out["index"]).argmax(1) == y))


def write(path: str, content: bytes) -> dict:
    with open(path, "wb") as f:
        f.write(content)
    return {"bytes": len(content), "gzip_bytes": len(gzip.compress(content, 9))}


def main() -> None:
    settings = json.loads(sys.argv[1])
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(settings["seed"])
    data = make_dataset(get_dataset_args())
    extra = (None,) if settings.get("input_1d") else (None, None)
    x, y = data["x"].astype("float32")[(..., *extra)], data["y"]
    x_test, y_test = data["x_test"].astype("float32")[(..., *extra)], data["y_test"]
    batch = settings["batch_size"]
    steps_per_epoch = int(np.ceil(len(x) / batch))
    started = time.perf_counter()

    model = model_2d(settings["dropout"], bool(settings.get("input_1d")))
    model.compile(keras.optimizers.Adam(settings["learning_rate"]), "sparse_categorical_crossentropy",
                  ["accuracy"])
    if settings.get("weights"):
        with np.load(settings["weights"]) as stored:
            arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        for layer in (layer for layer in model.layers if layer.weights):
            kernel, bias, arrays = arrays[0], arrays[1], arrays[2:]
            layer.set_weights([kernel.reshape(layer.kernel.shape), bias])
    else:
        model.fit(x, y, batch_size=batch, epochs=settings["epochs"], verbose=0)
    float_keras = model.evaluate(x_test, y_test, verbose=0)[1]
    float_file = write(f"{out_dir}/float.tflite",
                       tf.lite.TFLiteConverter.from_keras_model(model).convert())

    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=settings["sparsity"], begin_step=0,
        end_step=int(settings["prune_end_fraction"] * settings["prune_epochs"] * steps_per_epoch),
        frequency=settings["frequency"])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    pruned.compile(keras.optimizers.Adam(settings["prune_learning_rate"]),
                   "sparse_categorical_crossentropy", ["accuracy"])
    pruned.fit(x, y, batch_size=batch, epochs=settings["prune_epochs"], verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)

    annotated = tfmot.quantization.keras.quantize_annotate_model(stripped)
    qat = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    qat.compile(keras.optimizers.Adam(settings["qat_learning_rate"]),
                "sparse_categorical_crossentropy", ["accuracy"])
    qat.fit(x, y, batch_size=batch, epochs=settings["qat_epochs"], verbose=0)
    qat_keras = qat.evaluate(x_test, y_test, verbose=0)[1]
    converter = tf.lite.TFLiteConverter.from_keras_model(qat)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    int8_file = write(f"{out_dir}/int8.tflite", converter.convert())

    kernels = [w for layer in stripped.layers for w in layer.get_weights() if w.ndim > 1]
    result = {
        "params": int(model.count_params()),
        "float_keras_accuracy": float(float_keras),
        "float_tflite": {**float_file, "accuracy": tflite_accuracy(f"{out_dir}/float.tflite", x_test, y_test)},
        "qat_keras_accuracy": float(qat_keras),
        "int8_tflite": {**int8_file, "accuracy": tflite_accuracy(f"{out_dir}/int8.tflite", x_test, y_test)},
        "sparsity": float(sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)),
        "seconds": time.perf_counter() - started,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
