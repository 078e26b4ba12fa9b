"""Deployment frontier on MNIST-1D: raw bytes and latency against accuracy, as a device sees them.

One invocation measures three int8 TFLite files made from the same trained float model (the
190k-parameter Conv1D CNN of `recipes/mnist1d_deploy.yaml` and `mnist1d_compress.yaml`):

- channel-pruned int8: `recipes/mnist1d_deploy.yaml` run as it is (train, remove channels
  with distillation, QAT, int8 file with int8 input and output);
- unstructured int8: `recipes/mnist1d_compress.yaml`'s prune (80%) and 16-cluster stages,
  run on the deploy run's trained float model (`model_float.keras`);
- tfmot prune + QAT: tfmot 0.8.1 on tf_keras in a subprocess (`_tfmot_peer.py`; `--peer-path`
  puts a folder holding tf_keras and tensorflow-model-optimization on its path only),
  started from the same trained weights, pruned to 80% and fine-tuned with prune-preserving QAT
  as `mnist1d_compress.yaml`'s stages say.

Every file is run with the LiteRT interpreter on the 1,000 test sequences (accuracy), and all
of them, with the float file (`model_float.tflite` of the deploy run), are timed in the same
interleaved rounds at one thread and batch 1 (`kerasopt.export.profile_tflite`, `--repeats`
times; the medians are kept), so the speedups against the float file are ratios measured
under the same load. Results go to `benchmarks/results/deploy_frontier.json`.

    python benchmarks/deploy_frontier.py [--deploy-dir RUN_DIR] [--peer-path SITE] [--quick]

`--seeds RUN_DIR...` instead re-measures the float and int8 files of several `mnist1d_deploy`
runs (any seeds and pruning plans, keyed by the channels kept and the seed, "16 filters, 32 units,
seed 0"; all files of all runs timed in the same interleaved rounds, `--repeats` calls of
`profile_tflite`, default 7, each int8 file against its own run's float file, medians) and writes `benchmarks/results/deploy_seeds.json`; no training. `--deploy-dir` reuses the run directory of an earlier `kerasopt run mnist1d_deploy` instead of
running the recipe (about 10 minutes on 2 cores); `--quick` shortens every training to check
that the script runs (its numbers are not written).
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

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
FLOAT = "float (model_float.tflite)"


def recipe(name: str) -> dict:
    return yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text())


def kerasopt_run(config: dict, out: Path) -> Path:
    """Run a recipe through the CLI, as a user would; return its run directory."""
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", str(path), "--output-dir", str(out),
                           "runtime.verbose=0"], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"kerasopt run failed:\n{done.stderr[-3000:]}")
    return out


def deploy_run(work: Path, quick: bool) -> Path:
    config = recipe("mnist1d_deploy")
    if quick:
        for stage in config["stages"]:
            stage["epochs"] = 1
        config["export"]["tflite"].pop("max_accuracy_drop", None)
    return kerasopt_run(config, work / "deploy")


def unstructured_run(float_keras: Path, work: Path, quick: bool) -> Path:
    """`mnist1d_compress`'s prune and cluster stages, on the given trained model."""
    config = copy.deepcopy(recipe("mnist1d_compress"))
    config["model"] = {"architecture": "file", "path": str(float_keras)}
    config["stages"] = config["stages"][1:]
    if quick:
        for stage in config["stages"]:
            stage["epochs"] = 1
    return kerasopt_run(config, work / "unstructured")


def tfmot_run(float_keras: Path, work: Path, quick: bool, peer_path: str | None) -> Path:
    """tfmot's prune + QAT, from the same trained weights, in a tf_keras subprocess."""
    import keras

    model = keras.saving.load_model(float_keras, compile=False)
    weights = work / "trained_weights.npz"
    np.savez(weights, *[w for layer in model.layers for w in layer.get_weights()])
    config = recipe("mnist1d_compress")
    _, prune, fine_tune = config["stages"]
    schedule = prune["compression"]["pruning"]["pruning_schedule"]
    settings = {"seed": config["seed"], "epochs": 0, "weights": str(weights), "input_1d": True,
                "batch_size": config["data"]["batch_size"],
                "dropout": next(layer["rate"] for layer in config["model"]["layers"] if layer["type"] == "Dropout"),
                "learning_rate": config["training"]["optimizer"]["learning_rate"],
                "sparsity": schedule["final_sparsity"], "prune_epochs": 1 if quick else prune["epochs"],
                "prune_end_fraction": float(schedule["end_step"].removesuffix("dur")),
                "frequency": schedule["frequency"],
                "prune_learning_rate": prune["training"]["optimizer"]["learning_rate"],
                "qat_epochs": 1 if quick else fine_tune["epochs"],
                "qat_learning_rate": fine_tune["training"]["optimizer"]["learning_rate"]}
    out = work / "tfmot"
    env = {**ENV, "PYTHONPATH": os.pathsep.join(p for p in (peer_path, ENV.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_tfmot_peer.py"), json.dumps(settings),
                           str(out)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"tfmot peer failed:\n{done.stderr[-3000:]}")
    return out


def test_split() -> tuple[np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    return data["x_test"].astype("float32")[..., None], data["y_test"]


def file_rows(files: dict[str, Path], repeats: int) -> tuple[dict[str, dict], list[dict]]:
    """Each file's raw/gzip bytes, test accuracy, ops and median latency, every file timed in the
    same interleaved rounds (`repeats` calls of `profile_tflite`); also the calls themselves."""
    import gzip

    from kerasopt.export.tflite_profile import profile_tflite
    from kerasopt.export.tflite_verify import run_tflite

    x_test, y_test = test_split()
    calls = [profile_tflite(files, x_test[:1], max_seconds=2.0) for _ in range(repeats)]
    rows = {}
    for name, path in files.items():
        content = path.read_bytes()
        rows[name] = {"path": path.name, "bytes": len(content), "gzip_bytes": len(gzip.compress(content, 9)),
                      "accuracy": float(np.mean(run_tflite(path, x_test).argmax(1) == y_test)),
                      "latency_us": float(np.median([c[name]["latency_us"] for c in calls])),
                      "latency_us_per_repeat": [round(c[name]["latency_us"], 3) for c in calls],
                      "float_ops": calls[0][name]["float_ops"], "ops": calls[0][name]["ops"],
                      "activation_bytes": calls[0][name]["activation_bytes"]}
    return rows, calls


def compare(rows: dict[str, dict], calls: list[dict], name: str, reference: str) -> None:
    """Add `name`'s speedup over `reference` (per call, the reference's latency over its own;
    the median), how many times smaller it is, and its accuracy change in points."""
    ratios = [c[reference]["latency_us"] / c[name]["latency_us"] for c in calls]
    rows[name].update(speedup=float(np.median(ratios)), speedup_per_repeat=[round(r, 2) for r in ratios],
                      smaller=rows[reference]["bytes"] / rows[name]["bytes"],
                      accuracy_change_points=100 * (rows[name]["accuracy"] - rows[reference]["accuracy"]))


def measure(files: dict[str, Path], repeats: int) -> dict[str, dict]:
    """Accuracy on the test split, raw/gzip bytes, and latency against the float file."""
    rows, calls = file_rows(files, repeats)
    for name in rows:
        if name != FLOAT:
            compare(rows, calls, name, FLOAT)
    return rows


def seeds(run_dirs: list[Path], repeats: int = 7) -> dict[str, dict]:
    """Re-measure the runs' files: raw bytes, accuracy, and each int8 file's speedup over its own
    float file, every file of every run timed in the same interleaved rounds (`repeats` calls of
    `profile_tflite`; per call, each run's float latency over its int8 latency; medians)."""
    runs = {}
    for run_dir in run_dirs:
        config = yaml.safe_load((run_dir / "recipe.yaml").read_text())
        runs[f"{kept_channels(run_dir)}, seed {config['seed']}"] = run_dir
    files = {f"{key}: {kind}": run_dir / name for key, run_dir in runs.items()
             for kind, name in ((FLOAT, "model_float.tflite"), ("int8", "model.tflite"))}
    rows, calls = file_rows(files, repeats)
    result = {}
    for key, run_dir in runs.items():
        compare(rows, calls, f"{key}: int8", f"{key}: {FLOAT}")
        result[key] = {"run_dir": str(run_dir), FLOAT: rows[f"{key}: {FLOAT}"], "int8": rows[f"{key}: int8"]}
        print(f"{key}:", {k: round(v, 3) for k, v in result[key]["int8"].items() if k in
                          ("smaller", "speedup", "accuracy_change_points", "latency_us")}, flush=True)
    return result


def kept_channels(run_dir: Path) -> str:
    """What channel pruning left of the CNN, from the run's metrics.json: "16 filters, 32 units"."""
    kept = json.loads((run_dir / "metrics.json").read_text())["channel_pruning"]["kept_channels"]
    filters = sorted({v["after"] for k, v in kept.items() if k.startswith("conv1d")})
    units = kept["dense"]["after"]
    return f"{'/'.join(map(str, filters))} filters, {units} units"


def table(rows: dict[str, dict]) -> str:
    lines = ["| file | raw bytes | smaller | latency | faster | test accuracy | change |",
             "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if name == FLOAT:
            lines.append(f"| {name} | {row['bytes']:,} | 1x | {row['latency_us']:.1f} us | 1x | "
                         f"{100 * row['accuracy']:.1f}% | |")
        else:
            lines.append(f"| {name} | {row['bytes']:,} | {row['smaller']:.1f}x | {row['latency_us']:.1f} us | "
                         f"{row['speedup']:.1f}x | {100 * row['accuracy']:.1f}% | "
                         f"{row['accuracy_change_points']:+.1f} points |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deploy-dir", type=Path, help="an earlier mnist1d_deploy run directory to reuse")
    parser.add_argument("--peer-path", help="a folder with tf_keras and tfmot, for the tfmot subprocess only")
    parser.add_argument("--seeds", type=Path, nargs="+", help="mnist1d_deploy run directories to re-measure")
    parser.add_argument("--quick", action="store_true", help="short training, to check the script runs")
    parser.add_argument("--repeats", type=int, help="profile_tflite calls; medians kept (default 5; 7 with --seeds)")
    args = parser.parse_args()
    if args.seeds:
        result = seeds([d.resolve() for d in args.seeds], args.repeats or 7)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "deploy_seeds.json").write_text(json.dumps(result, indent=1) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        deploy = args.deploy_dir.resolve() if args.deploy_dir else deploy_run(work, args.quick)
        unstructured = unstructured_run(deploy / "model_float.keras", work, args.quick)
        tfmot = tfmot_run(deploy / "model_float.keras", work, args.quick, args.peer_path)
        files = {FLOAT: deploy / "model_float.tflite",
                 f"channel-pruned to {kept_channels(deploy)} + QAT, int8 io (mnist1d_deploy)": deploy / "model.tflite",
                 "unstructured 80% + 16 clusters, int8 (mnist1d_compress)": unstructured / "model.tflite",
                 "tfmot prune 80% + QAT, int8": tfmot / "int8.tflite"}
        rows = measure(files, args.repeats or 5)
    print(table(rows))
    if not args.quick:
        result = {"deploy_run": str(args.deploy_dir) if args.deploy_dir else "run by this script",
                  "seed": recipe("mnist1d_deploy")["seed"], "repeats": args.repeats or 5, "files": rows}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "deploy_frontier.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
