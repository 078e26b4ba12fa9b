"""Compression on MNIST-1D: kerasopt (Keras 3) against tfmot (tf_keras), side by side in one run.

Both sides train the same 190k-parameter CNN on the same data (MNIST-1D's 4,000 training
and 1,000 test sequences; kerasopt holds out 10% for validation), prune it with the
polynomial schedule and fine-tune it as `recipes/mnist1d_compress.yaml` says (kerasopt runs
the recipe as it is; tfmot fine-tunes with quantization-aware training as long), and
convert a full-int8 TFLite file; each file is measured by running it with the LiteRT interpreter on the test
split. tfmot runs in a subprocess (`_tfmot_peer.py`), with a Conv2D of (k, 1) kernels in
place of Conv1D, which its QAT rejects. Sizes are gzip sizes (level 9), compared with each
side's own float TFLite file.

With `--frontier`, it also prunes the kerasopt model trained here to 50-95% sparsity,
unstructured and 2:4, with QAT or with 16-cluster weight sharing (int8 calibrated), and
plots test accuracy against int8 gzip size.

    pip install -e ".[bench]"
    python benchmarks/compression_vs_tfmot.py [--frontier] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def kerasopt_run(recipe: dict, out: Path) -> dict:
    """Run a recipe through the CLI, as a user would; return its metrics.json."""
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", str(path), "--output-dir", str(out),
                           "runtime.verbose=0"], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"kerasopt run failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def tfmot_run(settings: dict, out: Path) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_tfmot_peer.py"), json.dumps(settings),
                           str(out)], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"tfmot peer failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def shipped_recipe() -> dict:
    return yaml.safe_load((ROOT / "recipes" / "mnist1d_compress.yaml").read_text())


def settings_of(recipe: dict) -> dict:
    """The tfmot side's settings, read from the kerasopt recipe so both train alike."""
    train, prune, fine_tune = recipe["stages"]  # tfmot fine-tunes with QAT for as long
    schedule = prune["compression"]["pruning"]["pruning_schedule"]
    dropout = next(layer["rate"] for layer in recipe["model"]["layers"] if layer["type"] == "Dropout")
    return {"seed": recipe["seed"], "epochs": train["epochs"], "batch_size": recipe["data"]["batch_size"],
            "dropout": dropout,
            "learning_rate": recipe["training"]["optimizer"]["learning_rate"],
            "sparsity": schedule["final_sparsity"], "prune_epochs": prune["epochs"],
            "prune_end_fraction": float(schedule["end_step"].removesuffix("dur")),
            "frequency": schedule["frequency"],
            "prune_learning_rate": prune["training"]["optimizer"]["learning_rate"],
            "qat_epochs": fine_tune["epochs"],
            "qat_learning_rate": fine_tune["training"]["optimizer"]["learning_rate"]}


def side_by_side(recipe: dict, work: Path) -> dict:
    ours = kerasopt_run(recipe, work / "kerasopt")
    peer = tfmot_run(settings_of(recipe), work / "tfmot")
    flt, int8 = ours["exports"]["tflite_float"], ours["exports"]["tflite"]
    return {
        "kerasopt": {"float_accuracy": flt["accuracy"], "int8_accuracy": int8["accuracy"],
                     "float_gzip": flt["gzip_bytes"], "int8_gzip": int8["gzip_bytes"],
                     "ratio": flt["gzip_bytes"] / int8["gzip_bytes"], "sparsity": ours["sparsity"]},
        "tfmot": {"float_accuracy": peer["float_tflite"]["accuracy"],
                  "int8_accuracy": peer["int8_tflite"]["accuracy"],
                  "float_gzip": peer["float_tflite"]["gzip_bytes"], "int8_gzip": peer["int8_tflite"]["gzip_bytes"],
                  "ratio": peer["float_tflite"]["gzip_bytes"] / peer["int8_tflite"]["gzip_bytes"],
                  "sparsity": peer["sparsity"]},
        "float_model": str(work / "kerasopt" / "model_float.tflite"),
    }


def frontier(recipe: dict, work: Path, float_keras: Path) -> list[dict]:
    """Prune the trained float model to several sparsities and structures; one verified int8 file each."""
    points = []
    configs = [(s, "unstructured", tech) for s in (0.5, 0.8, 0.9, 0.95) for tech in ("qat", "clustering")]
    configs += [(0.5, "n:m", "qat"), (0.5, "n:m", "clustering")]
    for sparsity, structure, technique in configs:
        point = copy.deepcopy(recipe)
        point["name"] = f"frontier_{structure.replace(':', '')}_{int(sparsity * 100)}_{technique}"
        point["model"] = {"architecture": "file", "path": str(float_keras)}
        _, prune, fine_tune = point["stages"]
        prune["compression"]["pruning"]["pruning_schedule"]["final_sparsity"] = sparsity
        prune["compression"]["pruning"]["structure"] = structure
        last = {"name": technique, "epochs": fine_tune["epochs"], "training": fine_tune["training"],
                "compression": {"qat": True} if technique == "qat" else
                {"clustering": {"number_of_clusters": 16}}}
        point["stages"] = [prune, last]
        metrics = kerasopt_run(point, work / point["name"])
        int8 = metrics["exports"]["tflite"]
        points.append({"sparsity": sparsity, "structure": structure, "technique": technique,
                       "int8_accuracy": int8["accuracy"], "int8_gzip": int8["gzip_bytes"]})
        print(json.dumps(points[-1]), flush=True)
    return points


def plot(points: list[dict], result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    float_gzip = result["kerasopt"]["float_gzip"]
    for (structure, technique), marker in {("unstructured", "qat"): "o", ("unstructured", "clustering"): "s",
                                           ("n:m", "qat"): "^", ("n:m", "clustering"): "v"}.items():
        chosen = [p for p in points if p["structure"] == structure and p["technique"] == technique]
        if chosen:
            ax.plot([float_gzip / p["int8_gzip"] for p in chosen], [100 * p["int8_accuracy"] for p in chosen],
                    marker=marker, label=f"kerasopt {structure} + {technique}")
    ax.scatter([result["tfmot"]["ratio"]], [100 * result["tfmot"]["int8_accuracy"]], marker="x", s=80,
               color="black", label=f"tfmot {100 * result['tfmot']['sparsity']:.0f}% + QAT")
    ax.axhline(100 * result["kerasopt"]["float_accuracy"] - 1.0, color="gray", linestyle=":",
               label="kerasopt float - 1 point")
    ax.set_xlabel("float TFLite gzip size / int8 TFLite gzip size")
    ax.set_ylabel("test accuracy of the int8 file (%)")
    ax.set_title("MNIST-1D CNN: size/accuracy frontier (each point a verified int8 file)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replot() -> None:
    """Redraw the frontier plot from the saved results (`--replot`)."""
    result = json.loads((RESULTS / "compression_vs_tfmot.json").read_text())
    plot(result["frontier"], result, RESULTS / "compression_frontier.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frontier", action="store_true", help="also measure the size/accuracy frontier")
    parser.add_argument("--quick", action="store_true", help="short training, to check the script runs")
    parser.add_argument("--replot", action="store_true", help="only redraw the plot from the saved results")
    args = parser.parse_args()
    if args.replot:
        replot()
        return
    recipe = shipped_recipe()
    if args.quick:
        for stage, epochs in zip(recipe["stages"], (2, 2, 1), strict=True):
            stage["epochs"] = epochs
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = side_by_side(recipe, work)
        print(json.dumps(result, indent=1), flush=True)
        for side in ("kerasopt", "tfmot"):
            r = result[side]
            print(f"{side:9s} float {100 * r['float_accuracy']:.1f}%  int8 {100 * r['int8_accuracy']:.1f}% "
                  f"({100 * (r['int8_accuracy'] - r['float_accuracy']):+.1f} points)  "
                  f"{r['float_gzip']:,} -> {r['int8_gzip']:,} bytes gzip = {r['ratio']:.1f}x smaller  "
                  f"sparsity {r['sparsity']:.3f}")
        if args.frontier:
            result["frontier"] = frontier(recipe, work, work / "kerasopt" / "model_float.keras")
            plot(result["frontier"], result, RESULTS / "compression_frontier.png")
        if not args.quick:
            (RESULTS / "compression_vs_tfmot.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
