"""A 20-layer ReLU MLP on sklearn digits, 10 epochs of SGD + momentum: LSUV vs N(0, 0.01).

Run: python benchmarks/lsuv_deep_mlp.py
Mishkin & Matas (2015) show LSUV trains very deep plain nets that a small-Gaussian init
cannot (the signal vanishes through the layers); this prints both test accuracies.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from kerasopt.initializers.lsuv import lsuv_initialize  # noqa: E402

x, y = load_digits(return_X_y=True)
x = ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32")
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)


def mlp():
    keras.utils.set_random_seed(0)
    init = keras.initializers.RandomNormal(stddev=0.01)
    layers = [keras.layers.Dense(64, activation="relu", kernel_initializer=init)
              for _ in range(19)]
    return keras.Sequential([keras.Input((64,)), *layers,
                             keras.layers.Dense(10, kernel_initializer=init)])


results = {}
for name in ("N(0, 0.01)", "LSUV"):
    model = mlp()
    if name == "LSUV":
        lsuv_initialize(model, x_train[:512], seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=10, verbose=0)
    results[name] = model.evaluate(x_test, y_test, verbose=0)[1]
    print(f"{name:>10}: test accuracy {results[name]:.3f}")
print(f"LSUV - N(0, 0.01): {results['LSUV'] - results['N(0, 0.01)']:+.3f} (chance is 0.1)")
