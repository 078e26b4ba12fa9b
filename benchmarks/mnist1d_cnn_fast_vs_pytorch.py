"""`kerasopt run mnist1d_cnn_fast` against the same training as a plain PyTorch CPU loop.

Both sides train the MNIST-1D paper's CNN (5,210 parameters) as recipes/mnist1d_cnn_fast.yaml
does: random shifts of up to 4, one-cycle Adam to 2e-2, batch 100, 3,000 steps, 10% of the
training split held out and scored after every epoch (benchmarks/_pytorch_peer.py is the
PyTorch loop). Each measurement runs in its own process with the same thread count
(`--threads`: PyTorch's `set_num_threads`, TensorFlow's intra- and inter-op pools through
`TF_NUM_INTRAOP_THREADS` / `TF_NUM_INTEROP_THREADS`, and `OMP_NUM_THREADS`), and the two
stacks alternate over `--rounds` rounds (seeds 0, 1, ...) so that a shared host's load
falls on both alike. Reported: medians of `fit_seconds` (kerasopt: its run's
`timing.fit_seconds`, execution-plan probing and compiling included; PyTorch: the training
loop with its per-epoch validation) and test accuracies, and the ratio kerasopt / PyTorch.
Writes benchmarks/results/mnist1d_cnn_fast_vs_pytorch.json.

Needs the `benchmarks` extra (`pip install -e .[benchmarks]`; PyTorch's CPU build:
`pip install torch --index-url https://download.pytorch.org/whl/cpu`).

    python benchmarks/mnist1d_cnn_fast_vs_pytorch.py [--rounds 3] [--threads 2] [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _thread_env import environment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def kerasopt(seed: int, steps: int, threads: int) -> dict:
    """`kerasopt run mnist1d_cnn_fast seed=SEED` through the CLI; its fit time and test accuracy."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", str(ROOT / "recipes" / "mnist1d_cnn_fast.yaml"),
                               f"seed={seed}", f"training.steps={steps}", "runtime.verbose=0", "export.tflite=null",
                               "export.keras=false", "--output-dir", out],
                              capture_output=True, text=True, env=environment(threads), cwd=ROOT, check=False)
        if done.returncode != 0:
            raise SystemExit(f"kerasopt run mnist1d_cnn_fast seed={seed} failed:\n{done.stderr[-3000:]}")
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    return {"stack": "kerasopt", "seed": seed, "fit_seconds": metrics["timing"]["fit_seconds"],
            "probe_seconds": metrics["timing"]["probe_seconds"], "test": evaluation["test"]["accuracy"],
            "execution": metrics["stages"][0]["execution"]}


def pytorch(seed: int, steps: int, threads: int) -> dict:
    """The PyTorch loop (benchmarks/_pytorch_peer.py) in its own process."""
    done = subprocess.run([sys.executable, str(HERE / "_pytorch_peer.py"), str(seed), str(steps), str(threads)],
                          capture_output=True, text=True, env=environment(threads), check=False)
    if done.returncode != 0:
        raise SystemExit(f"the PyTorch loop (seed {seed}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--output", default=str(HERE / "results" / "mnist1d_cnn_fast_vs_pytorch.json"))
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {"kerasopt": [], "pytorch": []}
    for seed in range(args.rounds):
        order = (kerasopt, pytorch) if seed % 2 == 0 else (pytorch, kerasopt)
        for measure in order:
            row = measure(seed, args.steps, args.threads)
            rows[row["stack"]].append(row)
            print(f"seed {seed}: {row['stack']:9s} fit {row['fit_seconds']:6.1f} s  test {100 * row['test']:.1f}%",
                  flush=True)
    summary = {stack: {"fit_seconds": statistics.median(r["fit_seconds"] for r in found),
                       "test": statistics.median(r["test"] for r in found),
                       "test_min": min(r["test"] for r in found)} for stack, found in rows.items()}
    ratios = [k["fit_seconds"] / p["fit_seconds"] for k, p in zip(rows["kerasopt"], rows["pytorch"], strict=True)]
    summary["fit_ratio"] = statistics.median(ratios)
    summary["fit_ratios"] = ratios
    print(f"\n{'stack':10s} {'fit s (median)':>15s} {'test % (median)':>16s}")
    for stack in ("kerasopt", "pytorch"):
        print(f"{stack:10s} {summary[stack]['fit_seconds']:15.1f} {100 * summary[stack]['test']:16.1f}")
    print(f"kerasopt / PyTorch fit time: {summary['fit_ratio']:.2f} (per round: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); threads {args.threads}")
    out = Path(args.output)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"steps": args.steps, "rounds": args.rounds, "threads": args.threads,
                               "host_cpus": os.cpu_count(), "rows": rows, "summary": summary}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
