"""Low-rank factorization and int4 weights on MNIST-1D's 190k-parameter CNN, measured as LiteRT runs them.

Trains the CNN of `recipes/mnist1d_compress.yaml`, then writes and runs (LiteRT interpreter,
test split) its float file, the int8 file (calibrated), int4 files (per channel, blockwise
32, and mixed: the most int4-sensitive layer kept at int8, measured on the validation
split), and the low-rank model (energy 0.9 on every layer, and params_ratio 0.25 on conv2, conv3
and hidden; each fine-tuned) as
float, int8 and int4. Latencies are single-thread batch-1 medians, timed in interleaved
rounds in this one process, as ratios against the float file.

    python benchmarks/low_rank_and_int4.py [--epochs 30] [--fine-tune 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import keras


def _model() -> keras.Model:
    layers = keras.layers
    return keras.Sequential([
        keras.Input((40, 1)),
        layers.Conv1D(64, 3, strides=2, padding="same", activation="relu", name="conv1"),
        layers.Conv1D(64, 3, padding="same", activation="relu", name="conv2"),
        layers.Conv1D(64, 3, padding="same", activation="relu", name="conv3"),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(128, activation="relu", name="hidden"),
        layers.Dropout(0.3), layers.Dense(10, name="logits"), layers.Softmax()], name="mnist1d_cnn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fine-tune", type=int, default=5)
    args = parser.parse_args()

    from mnist1d.data import get_dataset_args, make_dataset

    from kerasopt.compression import factorize_low_rank
    from kerasopt.export.tflite import export_tflite
    from kerasopt.export.tflite_low_bit import export_tflite_int4
    from kerasopt.export.tflite_profile import profile_tflite
    from kerasopt.export.tflite_verify import verify_tflite

    keras.utils.set_random_seed(0)
    data = make_dataset(get_dataset_args())
    x, y = data["x"][..., None].astype("float32"), data["y"].astype("int32")
    x_test, y_test = data["x_test"][..., None].astype("float32"), data["y_test"].astype("int32")
    x_train, y_train, x_val, y_val = x[400:], y[400:], x[:400], y[:400]
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)

    def fine_tuned(**rule: float) -> keras.Model:
        small = factorize_low_rank(model, **rule)
        small.compile(optimizer=keras.optimizers.Adam(3e-4), loss="sparse_categorical_crossentropy")
        small.fit(x_train, y_train, epochs=args.fine_tune, batch_size=32, verbose=0)
        return small

    folder = Path(tempfile.mkdtemp())
    rows: dict[str, dict] = {}
    files: dict[str, Path] = {}

    def add(name: str, source: keras.Model, kind: str) -> None:
        path = folder / f"{name}.tflite"
        if kind.startswith("int4"):
            options = {"int4": {}, "int4_block": {"granularity": "block"},
                       "int4_mixed": {"keep_float": 1, "validation": (x_val, y_val)}}[kind]
            info = export_tflite_int4(source, path, **options)
        else:
            info = export_tflite(source, path, quantization=kind, representative_data=x_train)
        info.update(verify_tflite(path, x_test, y_test))
        rows[name] = {"params": source.count_params(), "bytes": info["bytes"], "accuracy": info["accuracy"],
                      **({"precisions": info["precisions"]} if "precisions" in info else {})}
        files[name] = path

    add("float", model, "none")
    add("int8", model, "int8")
    for kind in ("int4", "int4_block", "int4_mixed"):
        add(kind, model, kind)
    # conv1 sees 3 inputs per filter (3 x 1 kernel): no rank saves much there, and rank 1 ruins it.
    wide = ["conv2", "conv3", "hidden"]
    for label, rule in (("lowrank_e0.9", {"energy": 0.9}), ("lowrank_p0.25", {"params_ratio": 0.25, "layers": wide})):
        small = fine_tuned(**rule)
        add(f"{label}_float", small, "none")
        add(f"{label}_int8", small, "int8")
        add(f"{label}_int4", small, "int4")
    profiles = profile_tflite(files, x_test[:1], reference="float", max_seconds=3.0)
    float_row = rows["float"]
    print(f"{'file':24s} {'params':>8s} {'raw bytes':>10s} {'smaller':>8s} {'speedup':>8s} {'accuracy':>9s}")
    for name, row in rows.items():
        speedup = profiles[name].get("speedup", 1.0)
        print(f"{name:24s} {row['params']:8d} {row['bytes']:10d} {float_row['bytes'] / row['bytes']:7.1f}x "
              f"{speedup:7.2f}x {row['accuracy']:9.3f}")
        row.update(latency_us=profiles[name]["latency_us"], speedup=speedup)
    print(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
