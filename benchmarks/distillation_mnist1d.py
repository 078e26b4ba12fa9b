"""Distillation on MNIST-1D, one quick seed: a student trained alone vs distilled from a teacher.

A teacher CNN (Conv1D 64-64-64, kernel 5, + Dense 128, ~207k parameters) is trained for 30
epochs (Adam 1e-3, batch 100); a student with about a tenth of its parameters (Conv1D
24-24-24 + Dense 64, ~22k) is trained from the same initial weights for the same 60 epochs
(it is still improving at 30, distilled ones more so) three ways: on the labels alone, with logits distillation (T=4, alpha=0.9), and with logits
plus a feature term (student's last conv to the teacher's, adapter 24->64 channels, length
10->20). Prints test accuracy and the KL divergence from the teacher's predictions (T=1) on
the 1000 test samples, and the seconds each run took.

Usage: python benchmarks/distillation_mnist1d.py [SEED]
"""

from __future__ import annotations

import json
import sys
import time

import keras
import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

from kerasopt.compression.distillation import distill

TEACHER_EPOCHS, STUDENT_EPOCHS, BATCH = 30, 60, 100


def cnn(width: int, dense: int, strides: tuple[int, int, int], name: str) -> keras.Model:
    layers = [keras.Input((40, 1))]
    for i, stride in enumerate(strides):
        layers.append(keras.layers.Conv1D(width, 5, strides=stride, padding="same", activation="relu",
                                          name=f"conv{i}"))
    layers += [keras.layers.Flatten(), keras.layers.Dense(dense, activation="relu", name="hidden"),
               keras.layers.Dense(10, name="logits")]
    return keras.Sequential(layers, name=name)


def kl_to(teacher_probs: np.ndarray, student_logits: np.ndarray) -> float:
    log_q = student_logits - student_logits.max(-1, keepdims=True)
    log_q = log_q - np.log(np.exp(log_q).sum(-1, keepdims=True))
    p = np.clip(teacher_probs, 1e-12, 1)
    return float(np.mean(np.sum(p * (np.log(p) - log_q), axis=-1)))


def main(seed: int = 0) -> dict[str, dict[str, float]]:
    data = make_dataset(get_dataset_args())
    x, y = data["x"][..., None].astype("float32"), data["y"]
    x_test, y_test = data["x_test"][..., None].astype("float32"), data["y_test"]
    keras.utils.set_random_seed(seed)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    results: dict[str, dict[str, float]] = {}

    def record(name: str, model: keras.Model, seconds: float, teacher_probs: np.ndarray | None) -> None:
        logits = model.predict(x_test, verbose=0)
        results[name] = {"params": int(model.count_params()), "seconds": round(seconds, 1),
                         "test_accuracy": float(np.mean(logits.argmax(-1) == y_test))}
        if teacher_probs is not None:
            results[name]["kl_to_teacher"] = round(kl_to(teacher_probs, logits), 4)

    teacher = cnn(64, 128, (1, 1, 2), "teacher")
    teacher.compile(keras.optimizers.Adam(1e-3), loss)
    start = time.perf_counter()
    teacher.fit(x, y, epochs=TEACHER_EPOCHS, batch_size=BATCH, verbose=0)
    record("teacher", teacher, time.perf_counter() - start, None)
    teacher_probs = keras.ops.convert_to_numpy(keras.ops.softmax(teacher.predict(x_test, verbose=0)))

    initial = cnn(24, 64, (1, 2, 2), "student")
    runs = {"student_alone": None, "distilled_logits": [],
            "distilled_logits_features": [("conv2", "conv2")]}
    for name, features in runs.items():
        student = keras.models.clone_model(initial)
        student.set_weights(initial.get_weights())
        model = student if features is None else distill(student, teacher, temperature=4.0, alpha=0.9,
                                                          features=features or None)
        model.compile(keras.optimizers.Adam(1e-3), loss=loss)
        start = time.perf_counter()
        model.fit(x, y, epochs=STUDENT_EPOCHS, batch_size=BATCH, verbose=0)
        record(name, student, time.perf_counter() - start, teacher_probs)
    return results


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0), indent=1))
