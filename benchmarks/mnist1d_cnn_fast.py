"""The MNIST-1D paper's CNN in fewer steps: mnist1d_cnn against mnist1d_cnn_fast and mnist1d_cnn_1500, 3 seeds.

All three recipes train the same 5,210-parameter CNN (Greydanus 2020) on MNIST-1D's 4,000
training sequences (10% held out for validation) and are scored on its standard 1,000-example
test split:

- `mnist1d_cnn`: the paper's training, Adam at 1e-2, batch 100, 6,000 steps (the paper
  reports 94%); the runner keeps the weights of the best epoch by validation loss.
- `mnist1d_cnn_fast`: 3,000 steps, random shifts of up to 4 steps (`random_crop`) and Adam
  on a one-cycle schedule peaking at 2e-2; the final weights are kept.
- `mnist1d_cnn_1500`: the same in 1,500 steps.

Each run goes through the CLI as a user would (`kerasopt run recipe seed=N`), exports
included. `test` is the test accuracy of the weights each recipe keeps and exports,
`test_last` that of the final weights (the same for the two fast recipes), `train_steps`
the optimizer steps over all stages, `fit_seconds` the time inside `fit`, `wall_seconds`
the whole command (start-up, data generation, evaluation and export too).

    python benchmarks/mnist1d_cnn_fast.py [--recipes mnist1d_cnn_fast ...] [--seeds 0 1 2]

Only a run of every recipe over the default seeds writes
`benchmarks/results/mnist1d_cnn_fast.json`; a subset prints its rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compression_vs_tfmot import ENV, RESULTS, ROOT

RECIPES = ("mnist1d_cnn", "mnist1d_cnn_fast", "mnist1d_cnn_1500")
SEEDS = (0, 1, 2)


def run(recipe: str, seed: int, out: Path) -> dict:
    """Run one shipped recipe with `seed=` through the CLI; return its row."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", str(ROOT / "recipes" / f"{recipe}.yaml"),
                           f"seed={seed}", "--output-dir", str(out), "runtime.verbose=0"],
                          capture_output=True, text=True, env=ENV, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"kerasopt run {recipe} seed={seed} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    last = evaluation.get("last", evaluation)
    return {"recipe": recipe, "seed": seed, "params": metrics["params"],
            "test": evaluation["test"]["accuracy"], "test_last": last["test"]["accuracy"],
            "validation": evaluation["validation"]["accuracy"],
            "train_steps": metrics["timing"]["train_steps"],
            "fit_seconds": round(metrics["timing"]["fit_seconds"], 1), "wall_seconds": round(wall, 1)}


def summary(rows: list[dict]) -> dict:
    """Mean, lowest, highest and population standard deviation of each measure over the seeds."""
    out: dict = {"seeds": [r["seed"] for r in rows], "params": rows[0]["params"],
                 "train_steps": rows[0]["train_steps"]}
    for key in ("test", "test_last", "validation", "fit_seconds", "wall_seconds"):
        values = [r[key] for r in rows]
        out[key] = {"mean": statistics.mean(values), "min": min(values), "max": max(values),
                    "std": statistics.pstdev(values)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes:
            for seed in args.seeds:
                row = run(recipe, seed, Path(tmp) / f"{recipe}_{seed}")
                rows.append(row)
                print(json.dumps(row), flush=True)
    means = {recipe: summary([r for r in rows if r["recipe"] == recipe]) for recipe in args.recipes}
    for recipe, s in means.items():
        print(f"{recipe:18s} {s['train_steps']:5d} steps  test {100 * s['test']['mean']:.2f}% "
              f"({100 * s['test']['min']:.1f}-{100 * s['test']['max']:.1f})  final weights "
              f"{100 * s['test_last']['mean']:.2f}%  fit {s['fit_seconds']['mean']:.0f} s  "
              f"wall {s['wall_seconds']['mean']:.0f} s")
    if sorted(args.recipes) == sorted(RECIPES) and sorted(args.seeds) == list(SEEDS):
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "mnist1d_cnn_fast.json").write_text(json.dumps({"rows": rows, "means": means}, indent=1) + "\n")


if __name__ == "__main__":
    main()
