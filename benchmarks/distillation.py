"""Distillation on MNIST-1D: the same 17k-parameter student trained alone and distilled, 3 seeds.

Both students train on the same data for the same steps (60 epochs, then 5 epochs of
quantization-aware training) from `recipes/mnist1d_distill.yaml`; the distilled one learns
from the recipe's 190k-parameter teacher CNN (T = 4, alpha = 0.9) as well as from the
labels, the other (the same recipe without its teacher stage and distillation) from the
labels alone. Every number is a test-split accuracy: the teacher's after its stage, each
student's float TFLite file before QAT and its int8 file after, both run with the LiteRT
interpreter.

    python benchmarks/distillation.py [--seeds 0 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
from pathlib import Path

import yaml
from compression_vs_tfmot import RESULTS, ROOT, kerasopt_run


def recipes(seed: int, quick: bool) -> tuple[dict, dict]:
    distilled = yaml.safe_load((ROOT / "recipes" / "mnist1d_distill.yaml").read_text())
    distilled["seed"] = seed
    if quick:
        for stage, epochs in zip(distilled["stages"], (2, 2, 1), strict=True):
            stage["epochs"] = epochs
    alone = copy.deepcopy(distilled)
    alone["name"] = "mnist1d_student_alone"
    alone["stages"] = alone["stages"][1:]
    for stage in alone["stages"]:
        stage["compression"].pop("distillation")
        if not stage["compression"]:
            del stage["compression"]
    return distilled, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="a few epochs, to check the script runs")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            distilled, alone = recipes(seed, args.quick)
            d = kerasopt_run(distilled, Path(tmp) / f"distilled_{seed}")
            a = kerasopt_run(alone, Path(tmp) / f"alone_{seed}")
            row = {"seed": seed,
                   "teacher": d["stages"][0]["evaluation"]["test"]["accuracy"],
                   "student_params": d["params"],
                   "alone": a["exports"]["tflite_float"]["accuracy"],
                   "alone_int8": a["exports"]["tflite"]["accuracy"],
                   "distilled": d["exports"]["tflite_float"]["accuracy"],
                   "distilled_int8": d["exports"]["tflite"]["accuracy"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = ("teacher", "alone", "distilled", "alone_int8", "distilled_int8")
    means = {k: statistics.mean(r[k] for r in rows) for k in keys}
    print("mean over seeds " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in means.items()))
    print(f"distilled - alone: {100 * (means['distilled'] - means['alone']):+.2f} points (float), "
          f"{100 * (means['distilled_int8'] - means['alone_int8']):+.2f} points (int8)")
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "distillation.json").write_text(json.dumps({"rows": rows, "means": means}, indent=1) + "\n")


if __name__ == "__main__":
    main()
