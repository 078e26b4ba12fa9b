"""Step time of a default `kerasopt run` against tf_keras (Keras 2) and plain Keras 3.

The MNIST-1D paper CNN (recipes/mnist1d_cnn.yaml: 5,210 parameters, batch 100, Adam,
validation every epoch) is trained for about `--steps` steps in separate processes
(benchmarks/_step_time_peer.py; tf_keras switches a process to Keras 2, so it never runs in
this one), in these settings:

- tf_keras and plain Keras 3 with their defaults, and with `steps_per_execution` 10 or 32
  and `jit_compile=True` (the fastest of those is each stack's "fastest");
- `kerasopt run mnist1d_cnn` with its defaults (`steps_per_execution: auto`,
  `jit_compile: auto`).

Rows are interleaved over `--rounds` rounds (the host may be shared) and medians are
reported: `steady_ms`, wall time of `fit` per step after the first epoch (tracing and XLA
compiling happen in the first epoch for every stack, so they are excluded alike), and
`total_ms`, the whole `fit` per step with one-time costs (for kerasopt, its `fit_seconds`,
which include choosing and compiling the execution settings, `probe_seconds`). Writes
benchmarks/results/step_time_vs_tf_keras.json.

    python benchmarks/step_time_vs_tf_keras.py [--steps 1000] [--rounds 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = [  # (label, stack, steps_per_execution, jit_compile)
    ("tf_keras default", "tf_keras", "default", "default"),
    ("tf_keras spe=10 jit", "tf_keras", "10", "true"),
    ("tf_keras spe=32 jit", "tf_keras", "32", "true"),
    ("keras3 default", "keras3", "default", "default"),
    ("keras3 spe=10 jit", "keras3", "10", "true"),
    ("keras3 spe=32 jit", "keras3", "32", "true"),
    ("kerasopt run (defaults)", "kerasopt", "default", "default"),
]


def measure(stack: str, steps: int, spe: str, jit: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(HERE / "_step_time_peer.py"), stack, str(steps), spe, jit],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{stack} {spe} {jit} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=str(HERE / "results" / "step_time_vs_tf_keras.json"))
    args = parser.parse_args()
    samples: dict[str, list[dict]] = {label: [] for label, *_ in ROWS}
    for round_index in range(args.rounds):
        for label, stack, spe, jit in ROWS:
            result = measure(stack, args.steps, spe, jit)
            samples[label].append(result)
            print(f"round {round_index + 1}: {label:26s} steady {result['steady_ms']:6.2f} ms/step  "
                  f"total {result['total_ms']:6.2f} ms/step", flush=True)
    rows = {}
    for label, results in samples.items():
        rows[label] = {"steady_ms": statistics.median(r["steady_ms"] for r in results),
                       "total_ms": statistics.median(r["total_ms"] for r in results),
                       "steady_ms_all": [r["steady_ms"] for r in results]}
        if "execution" in results[-1]:
            rows[label]["execution"] = results[-1]["execution"]
            rows[label]["probe_seconds"] = statistics.median(r["probe_seconds"] for r in results)
    ours = rows["kerasopt run (defaults)"]["steady_ms"]
    tf_default = rows["tf_keras default"]["steady_ms"]
    fastest_label = min((label for label in rows if label != "kerasopt run (defaults)"),
                        key=lambda label: rows[label]["steady_ms"])
    fastest = rows[fastest_label]["steady_ms"]
    summary = {"kerasopt_vs_tf_keras_default": ours / tf_default,
               "kerasopt_vs_fastest": ours / fastest, "fastest": fastest_label,
               "goal_met": ours <= tf_default and ours <= 1.2 * fastest}
    print(f"\n{'setting':26s} {'steady ms/step':>15s} {'vs tf_keras default':>20s} {'total ms/step':>14s}")
    for label, row in rows.items():
        print(f"{label:26s} {row['steady_ms']:15.2f} {row['steady_ms'] / tf_default:20.2f} {row['total_ms']:14.2f}")
    print(f"\nkerasopt default / tf_keras default: {summary['kerasopt_vs_tf_keras_default']:.2f}; "
          f"/ fastest ({fastest_label}): {summary['kerasopt_vs_fastest']:.2f}")
    out = Path(args.output)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"steps": args.steps, "rounds": args.rounds, "rows": rows, "summary": summary,
                               "host_cpus": os.cpu_count()}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
