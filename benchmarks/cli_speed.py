"""How quickly the command line answers, and what it imports.

Runs each quick command several times in fresh interpreters and prints the median wall time,
next to `python -c pass` (the interpreter's own start-up) and `import keras` (what the quick
commands avoid). Also reports, from `python -X importtime`, whether TensorFlow or Keras was
imported.

    python benchmarks/cli_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 7
# Shipped recipes that load a model another recipe trains first: `validate` checks that the
# file exists, so these are left out (recipes/digits_transfer.yaml needs digits_mlp's model).
NEEDS_A_TRAINED_MODEL = {"digits_transfer.yaml"}
SHIPPED = sorted(str(p) for p in (ROOT / "recipes").rglob("*.yaml") if p.name not in NEEDS_A_TRAINED_MODEL)
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "kerasopt --help": [sys.executable, "-m", "kerasopt.cli", "--help"],
    "kerasopt list": [sys.executable, "-m", "kerasopt.cli", "list"],
    "kerasopt show quickstart": [sys.executable, "-m", "kerasopt.cli", "show", "quickstart"],
    "kerasopt schema": [sys.executable, "-m", "kerasopt.cli", "schema"],
    f"kerasopt validate ({len(SHIPPED)} shipped)": [sys.executable, "-m", "kerasopt.cli", "validate", *SHIPPED],
    "python -c 'import keras'": [sys.executable, "-c", "import keras"],
}


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports(command: list[str]) -> list[str]:
    if command[1] != "-m":
        return []
    result = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    return sorted(n for n in ("tensorflow", "keras") if n in names)


def main() -> None:
    print(f"{'command':<34}{'median s':>10}  heavy imports")
    for label, command in COMMANDS.items():
        seconds = median_seconds(command)
        print(f"{label:<34}{seconds:>10.3f}  {', '.join(heavy_imports(command)) or '-'}")


if __name__ == "__main__":
    main()
