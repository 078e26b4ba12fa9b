"""What `kerasopt run quickstart` does, written as plain Python with kerasopt's pieces.

Run: `python examples/plain_keras_pipeline.py`

Offline digits data (normalizer fitted on the training split only), a built-in MLP,
Adam with a warmup-then-cosine schedule, kerasopt's EarlyStopping, then an int8 TFLite file
verified by running it with the LiteRT interpreter on the test split.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from kerasopt.callbacks import EarlyStopping  # noqa: E402
from kerasopt.data import build_data  # noqa: E402
from kerasopt.export import export_tflite, verify_tflite  # noqa: E402
from kerasopt.models import build_model  # noqa: E402
from kerasopt.schedules import Warmup  # noqa: E402


def main() -> None:
    keras.utils.set_random_seed(0)
    data = build_data("digits", batch_size=32, test_split=0.2, normalization="standardize", seed=0)
    model = build_model({"architecture": "mlp", "units": [64, 32]}, input_shape=data.input_shape,
                        num_classes=data.num_classes, normalizer=data.normalizer)
    total = 20 * data.steps_per_epoch
    schedule = Warmup(keras.optimizers.schedules.CosineDecay(3e-3, total - data.steps_per_epoch),
                      warmup_steps=data.steps_per_epoch)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopper = EarlyStopping(monitor="val_accuracy", patience=4, restore_best_weights=True)
    model.fit(data.train, validation_data=data.validation, epochs=20, callbacks=[stopper],
              verbose=0, shuffle=False)
    keras_accuracy = model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
    print(f"stopped after epoch {stopper.stopped_epoch or 20} ({stopper.stop_reason or 'epochs'}); "
          f"Keras test accuracy {keras_accuracy:.4f}")
    with tempfile.TemporaryDirectory() as folder:
        info = export_tflite(model, os.path.join(folder, "model.tflite"), quantization="int8",
                             representative_data=data.x_train)
        info.update(verify_tflite(info["path"], data.x_test, data.y_test,
                                  keras_outputs=model.predict(data.x_test, verbose=0)))
    print(f"int8 TFLite: {info['bytes']} bytes ({info['gzip_bytes']} gzipped), "
          f"test accuracy {info['accuracy']:.4f}, max |diff| vs Keras {info['max_abs_diff']:.3f}")


if __name__ == "__main__":
    main()
