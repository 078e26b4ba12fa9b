"""`kerasopt run mnist1d_cnn` against the MNIST-1D paper's own PyTorch training, seed for seed.

Asks whether the paper's 94% for its CNN is reachable on this generated data at all, and
whether kerasopt's reproduction recipe gets what the paper's code gets. The PyTorch side
(benchmarks/_pytorch_paper_peer.py) is the mnist1d repository's ConvBase and train.py
written again: PyTorch's default initialization, Adam 1e-2 (eps 1e-8, no weight decay),
batch 100 in the fixed order `bix = (step * 100) % 4000`, 6000 steps on all 4,000
training sequences of `make_dataset(get_dataset_args())`, the final weights tested on
the 1,000 test sequences. The kerasopt side is `kerasopt run recipes/mnist1d_cnn.yaml
seed=N` through the CLI (exports off; `--set KEY=VALUE` adds overrides, to measure a
variant), its test accuracy read from metrics.json. The two stacks alternate seed by seed
in their own processes with the same thread count. `--peer-variant init=glorot` (or
`eps=1e-7`, `order=shuffled`, comma-joined) also trains the PyTorch side with Keras's
defaults in place of PyTorch's, on the same seeds. Prints test accuracy per seed and the
means; writes benchmarks/results/mnist1d_cnn_paper_vs_pytorch.json.

Needs the `benchmarks` extra (PyTorch's CPU build:
`pip install torch --index-url https://download.pytorch.org/whl/cpu`).

    python benchmarks/mnist1d_cnn_paper_vs_pytorch.py [--seeds 0 1 2] [--threads 1]
        [--set data.shuffle=true] [--peer-variant init=glorot]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _thread_env import environment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def kerasopt(seed: int, threads: int, overrides: list[str]) -> dict:
    """`kerasopt run recipes/mnist1d_cnn.yaml seed=SEED` through the CLI; its test accuracy."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-m", "kerasopt.cli", "run", str(ROOT / "recipes" / "mnist1d_cnn.yaml"),
                               f"seed={seed}", "runtime.verbose=0", "export.tflite=null", "export.keras=false",
                               *overrides, "--output-dir", out],
                              capture_output=True, text=True, env=environment(threads), cwd=ROOT, check=False)
        if done.returncode != 0:
            raise SystemExit(f"kerasopt run mnist1d_cnn seed={seed} failed:\n{done.stderr[-3000:]}")
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    test = metrics["evaluation"]["test"]
    return {"stack": "kerasopt", "seed": seed, "overrides": overrides, "updates": metrics["timing"]["train_steps"],
            "fit_seconds": metrics["timing"]["fit_seconds"], "test": test["accuracy"], "test_loss": test["loss"],
            "steps_per_execution": metrics["timing"]["steps_per_execution"], "jit_compile": metrics["timing"]["jit_compile"]}


def pytorch(seed: int, threads: int, variant: dict[str, str]) -> dict:
    """The paper's PyTorch training (benchmarks/_pytorch_paper_peer.py) in its own process."""
    options = [part for key, value in variant.items() for part in (f"--{key}", value)]
    done = subprocess.run([sys.executable, str(HERE / "_pytorch_paper_peer.py"), "--seeds", str(seed),
                           "--threads", str(threads), *options],
                          capture_output=True, text=True, env=environment(threads), check=False)
    if done.returncode != 0:
        raise SystemExit(f"the PyTorch peer (seed {seed}, {variant}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_variant(text: str) -> dict[str, str]:
    """`init=glorot,eps=1e-7` -> {"init": "glorot", "eps": "1e-7"}."""
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if not all(len(pair) == 2 and pair[0] in ("init", "eps", "order") for pair in pairs):
        raise SystemExit(f"--peer-variant takes init=..., eps=..., order=... joined by commas. Received: {text!r}")
    return dict(pairs)


def summary(rows: list[dict]) -> dict:
    tests = [row["test"] for row in rows]
    return {"tests": tests, "mean": statistics.mean(tests), "min": min(tests), "max": max(tests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for the kerasopt runs (repeatable)")
    parser.add_argument("--peer-variant", action="append", default=[], type=parse_variant,
                        help="also train the PyTorch side so, e.g. init=glorot (repeatable)")
    parser.add_argument("--output", default=str(HERE / "results" / "mnist1d_cnn_paper_vs_pytorch.json"))
    args = parser.parse_args()
    runs: dict[str, tuple] = {"kerasopt": (kerasopt, args.overrides), "pytorch": (pytorch, {})}
    for variant in args.peer_variant:
        runs["pytorch " + ",".join(f"{k}={v}" for k, v in variant.items())] = (pytorch, variant)
    rows: dict[str, list[dict]] = {name: [] for name in runs}
    for index, seed in enumerate(args.seeds):
        names = list(runs) if index % 2 == 0 else list(reversed(runs))
        for name in names:
            measure, setting = runs[name]
            row = measure(seed, args.threads, setting)
            rows[name].append(row)
            print(f"seed {seed}: {name:28s} test {100 * row['test']:.1f}%  loss {row['test_loss']:.3f}  "
                  f"({row['updates']} updates, fit {row['fit_seconds']:.0f} s)", flush=True)
    results = {name: summary(found) for name, found in rows.items()}
    print(f"\n{'':28s} " + " ".join(f"{'seed ' + str(s):>7s}" for s in args.seeds) + f" {'mean':>7s}")
    for name, result in results.items():
        print(f"{name:28s} " + " ".join(f"{100 * t:7.1f}" for t in result["tests"]) + f" {100 * result['mean']:7.2f}")
    out = Path(args.output)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seeds": args.seeds, "threads": args.threads, "overrides": args.overrides,
                               "summary": results, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
