"""`import kerasopt` alone loads `.keras` files holding kerasopt components, and stays cheap.

Each check runs in a fresh interpreter (what is imported, and in which order, is the
point). A model compiled with `Lookahead(RAdam(Warmup(CosineDecay)))` is saved once; it
must then load with `safe_mode=True` after `import keras, kerasopt`, after
`import kerasopt, keras`, and after `import kerasopt.optimizers` alone (whose import of
Keras must also register the schedule). `import kerasopt` must import neither Keras
nor TensorFlow.

A TensorFlow import costs several seconds of CPU, so checks whose interpreter would reach
the same state share one: the load after `import kerasopt` first records what the import
finder left on `keras` once Keras is imported (before the model is loaded), and the load
after `import kerasopt.optimizers` is also the check that this module imports first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SAVE = """
import sys
import keras
import numpy as np
from kerasopt.optimizers import Lookahead, RectifiedAdam
from kerasopt.schedules import Warmup

schedule = Warmup(keras.optimizers.schedules.CosineDecay(0.01, decay_steps=100), warmup_steps=5)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer=Lookahead(RectifiedAdam(learning_rate=schedule)), loss="mse")
model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
model.save(sys.argv[1])
# The rate at the step reached, 2: 0.01 * 2 / 5 (linear warmup from 0 over 5 steps).
print(int(model.optimizer.iterations.numpy()), f"{float(model.optimizer.learning_rate):.6g}")
"""

LOAD = """
import sys
{imports}
import keras
{probe}
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
optimizer = model.optimizer
print(type(optimizer).__name__, type(optimizer.inner_optimizer).__name__,
      int(optimizer.iterations.numpy()), f"{float(optimizer.learning_rate):.6g}")
"""


# What the finder left once `import kerasopt` then `import keras` ran, printed before loading.
FINDER = """
from keras import saving
finders = [type(f).__name__ for f in sys.meta_path]
print(type(keras.__loader__).__name__, type(keras.__spec__.loader).__name__,
      "KerasImportFinder" in finders, saving.get_registered_object("kerasopt>Warmup") is not None)
"""
# The three ways of loading (the imports before `import keras`), with what each also prints.
LOADS = {
    "import keras\nimport kerasopt": "",  # Keras first: `import kerasopt` registers at once
    "import kerasopt": FINDER,  # kerasopt first: registered when Keras is imported
    "import kerasopt.optimizers": "",  # the schedule's package is never imported by hand
}


def _run(code: str, *args: str) -> list[str]:
    """Run `code` in a fresh interpreter; the lines it printed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("saved") / "model.keras")
    assert _run(SAVE, path)[-1] == "2 0.004"  # two epochs of one batch
    return path


@pytest.fixture(scope="module")
def loads(saved_model: str) -> dict[str, list[str]]:
    """Each of `LOADS`'s interpreters: the lines it printed (the loaded optimizer last)."""
    return {imports: _run(LOAD.replace("{imports}", imports).replace("{probe}", probe), saved_model)
            for imports, probe in LOADS.items()}


@pytest.mark.slow
@pytest.mark.parametrize("imports", list(LOADS))
def test_load_after_importing_kerasopt_only(loads: dict[str, list[str]], imports: str) -> None:
    assert loads[imports][-1] == "Lookahead RectifiedAdam 2 0.004"


def test_import_kerasopt_imports_neither_keras_nor_tensorflow() -> None:
    code = """
    import sys
    import kerasopt
    heavy = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
    finders = [type(f).__name__ for f in sys.meta_path]
    print(heavy, "KerasImportFinder" in finders)
    """
    assert _run(code) == ["[] True"]


@pytest.mark.slow
def test_the_finder_leaves_keras_module_as_it_was(loads: dict[str, list[str]]) -> None:
    assert loads["import kerasopt"][0] == "SourceFileLoader SourceFileLoader False True"


@pytest.mark.slow
@pytest.mark.parametrize("module", ["kerasopt.recipe.run.runner", "kerasopt._backend", "kerasopt.optimizers"])
def test_any_kerasopt_module_imports_first(module: str, request: pytest.FixtureRequest) -> None:
    """Importing Keras registers kerasopt's components; a module that imports Keras at its top
    while they load would be only half initialized (a circular import)."""
    if f"import {module}" in LOADS:  # that interpreter imports it first, then loads the model
        assert request.getfixturevalue("loads")[f"import {module}"][-1] == "Lookahead RectifiedAdam 2 0.004"
    else:
        assert _run(f"import {module}\nprint('imported')") == ["imported"]
