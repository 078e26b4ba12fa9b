"""LR range test vs a learning-rate grid, and one-cycle vs the paper's constant rate, on MNIST-1D.

On the MNIST-1D paper CNN (recipes/mnist1d_cnn.yaml, Adam, batch 100):

1. kerasopt's LRFinder suggests a learning rate (minimum loss / 10, and steepest descent);
2. a 6-point grid of constant rates trains GRID_STEPS steps each; the best test accuracy
   names the best rate; the script prints the ratio suggestion / best (target: within 3x);
3. the paper's setup (constant 1e-2 for 6000 steps) is trained with the test accuracy
   checked every EVAL_EVERY steps: the first step at which it reaches the target (94%, the
   paper's number) is recorded; then OneCycle with its peak at the suggestion trains for half
   of those steps and reports whether it reaches the target too.

    python benchmarks/lr_finder_one_cycle.py [--target 0.94] [--skip-grid]
"""

from __future__ import annotations

import argparse

import keras

from kerasopt.callbacks import find_learning_rate
from kerasopt.data import build_data
from kerasopt.models import build_model
from kerasopt.schedules import OneCycle

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
GRID_STEPS = 3000
PAPER_STEPS = 6000
EVAL_EVERY = 250
TARGET = 0.94
LAYERS = [
    {"type": "ZeroPadding1D", "padding": 1},
    {"type": "Conv1D", "filters": 25, "kernel_size": 5, "strides": 2, "activation": "relu"},
    {"type": "ZeroPadding1D", "padding": 1},
    {"type": "Conv1D", "filters": 25, "kernel_size": 3, "strides": 2, "activation": "relu"},
    {"type": "ZeroPadding1D", "padding": 1},
    {"type": "Conv1D", "filters": 25, "kernel_size": 3, "strides": 2, "activation": "relu"},
    {"type": "Flatten"},
    {"type": "Dense", "units": 10, "activation": "softmax"},
]


class TestAccuracyEvery(keras.callbacks.Callback):
    """Evaluate test accuracy every N steps; remember the first step that reaches the target."""

    def __init__(self, test, every: int, target: float) -> None:
        super().__init__()
        self.test, self.every, self.target = test, every, target
        self.steps = 0
        self.reached_at: int | None = None
        self.best = 0.0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            accuracy = self.model.evaluate(self.test, verbose=0, return_dict=True)["accuracy"]
            self.best = max(self.best, accuracy)
            if self.reached_at is None and accuracy >= self.target:
                self.reached_at = self.steps


def train(data, learning_rate, steps: int, target: float, seed: int = 0) -> TestAccuracyEvery:
    keras.utils.set_random_seed(seed)
    model = build_model({"architecture": "layers", "layers": LAYERS}, input_shape=data.input_shape,
                        num_classes=data.num_classes)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    watch = TestAccuracyEvery(data.test, EVAL_EVERY, target)
    epochs = -(-steps // data.steps_per_epoch)
    model.fit(data.train, epochs=epochs, verbose=0, shuffle=False, callbacks=[
        watch, keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: setattr(model, "stop_training", watch.steps >= steps))])
    return watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=TARGET, help="test accuracy to reach")
    parser.add_argument("--skip-grid", action="store_true", help="skip the 6-point grid")
    args = parser.parse_args()
    data = build_data("mnist1d", batch_size=100, validation_split=0.0, seed=0)
    keras.utils.set_random_seed(0)
    model = build_model({"architecture": "layers", "layers": LAYERS}, input_shape=data.input_shape,
                        num_classes=data.num_classes)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    finder = find_learning_rate(model, data.train, num_steps=200, min_lr=1e-6, max_lr=1.0)
    print(f"LR finder: suggestion {finder.suggestion:.3g} (min/10), steepest {finder.suggestion_steepest:.3g}")
    if not args.skip_grid:
        results = {lr: train(data, lr, GRID_STEPS, args.target).best for lr in GRID}
        for lr, best in results.items():
            print(f"grid lr {lr:g}: best test accuracy {best:.4f} in {GRID_STEPS} steps")
        best_lr = max(results, key=results.get)
        ratio = finder.suggestion / best_lr
        print(f"best grid lr {best_lr:g}; suggestion/best = {ratio:.2f} "
              f"({'within' if 1 / 3 <= ratio <= 3 else 'OUTSIDE'} 3x)")
    paper = train(data, 1e-2, PAPER_STEPS, args.target)
    print(f"paper setup (Adam 1e-2 constant, {PAPER_STEPS} steps): best {paper.best:.4f}, "
          f"reached {args.target:.1%} at step {paper.reached_at}")
    budget = (paper.reached_at or PAPER_STEPS) // 2
    cycle = train(data, OneCycle(max_learning_rate=finder.suggestion, total_steps=budget), budget,
                  args.target)
    print(f"one-cycle at the suggestion, {budget} steps: best {cycle.best:.4f}, "
          f"reached {args.target:.1%} at step {cycle.reached_at}")


if __name__ == "__main__":
    main()
