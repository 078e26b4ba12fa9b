"""Run every component case under the JAX backend and write the numbers as JSON.

Launched by `tests/backends/test_jax.py` in a subprocess (a process cannot switch Keras
backends once Keras is imported):

    KERAS_BACKEND=jax python -m tests.backends._jax_conformance OUT.json

Besides the cases of `component_cases.py`, it records what importing kerasopt and loading
every component pulled in (TensorFlow must not be needed for that), and what the recipe
runner does under JAX: `kerasopt run` on a tiny recipe (exit code, stderr, whether the run
directory was created) and `kerasopt.recipe.run.runner.run` called from Python.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def runner_under_jax() -> dict[str, Any]:
    """What `kerasopt run` and `runner.run` do with a valid recipe under this backend."""
    from kerasopt import cli
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.run.runner import run
    from tests.tiny_recipe import write_tiny_recipe

    with tempfile.TemporaryDirectory() as folder:
        recipe = write_tiny_recipe(Path(folder))
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = cli.main(["run", recipe, "--output-dir", f"{folder}/cli_run"])
        try:
            run(load_recipe(recipe), output_dir=f"{folder}/python_run")
            raised = ""
        except Exception as err:  # noqa: BLE001 - reported to the test
            raised = f"{type(err).__name__}: {err}"
        return {"cli_exit": code, "cli_stderr": stderr.getvalue(),
                "cli_dir_created": Path(folder, "cli_run").exists(), "run_raised": raised,
                "run_dir_created": Path(folder, "python_run").exists()}


def main(out_path: str) -> int:
    import keras

    if keras.backend.backend() != "jax":
        print(f"expected KERAS_BACKEND=jax, got {keras.backend.backend()!r}", file=sys.stderr)
        return 2
    import kerasopt
    from kerasopt import registry

    registry.load_components()
    imported = {"kerasopt": kerasopt.__version__, "tensorflow_imported": "tensorflow" in sys.modules}

    from tests.backends import component_cases

    results = component_cases.run_all()
    report = {"backend": keras.backend.backend(), "import": imported, "cases": results,
              "runner": runner_under_jax()}
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
