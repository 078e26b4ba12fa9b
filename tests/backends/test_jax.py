"""kerasopt under Keras's JAX backend, checked against the same computations under TensorFlow.

One `KERAS_BACKEND=jax` subprocess (`_jax_conformance.py`) runs every case of
`component_cases.py` (every registered optimizer, schedule, pruning schedule, initializer,
callback, compression layer and distillation strategy) while this TensorFlow process runs
the same cases; the numbers must agree to float32 tolerance. Components listed in
`kerasopt._backend.TENSORFLOW_ONLY` must instead refuse JAX with a message naming the
component and the backend, and nothing else may refuse. The recipe runner must refuse JAX
with exit code 2 and write nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kerasopt import _backend
from tests.backends import component_cases

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install -e '.[dev]')"
)

# The cases that must refuse JAX, each with the TENSORFLOW_ONLY entry its message names.
EXPECTED_REFUSALS = {
    "optimizer/LBFGS": "kerasopt.optimizers.LBFGS",
    "optimizer/ConjugateGradient": "kerasopt.optimizers.ConjugateGradient",
    "optimizer/SAM": "kerasopt.optimizers.SAM",
    "optimizer/AdaHessian": "kerasopt.optimizers.AdaHessian",
    "callback/GradientMonitor": "kerasopt.callbacks.GradientMonitor",
    "callback/UpdatePruning": "kerasopt.compression.pruning.PruneLowMagnitude",
    "layer/PruneLowMagnitude": "kerasopt.compression.pruning.PruneLowMagnitude",
    "layer/ClusteredLayer": "kerasopt.compression.clustering.ClusteredLayer",
    "layer/QuantizeWrapper(preserve_sparsity=True)":
        "kerasopt.compression.quantization.QuantizeWrapper(preserve_sparsity=True)",
    "other/training.enable_closure": "kerasopt.training.enable_closure",
}
RTOL, ATOL = 2e-4, 2e-5  # float32, a few steps, XLA-on-CPU vs TensorFlow kernels

CASE_NAMES = sorted(component_cases.all_cases())


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TensorFlow results computed here, the JAX subprocess's report); both run at once."""
    out = tmp_path_factory.mktemp("jax") / "jax.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.backends._jax_conformance", str(out)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The TensorFlow-only components have their own TensorFlow tests.
        tensorflow = component_cases.run_all(skip=EXPECTED_REFUSALS)
    finally:
        output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    return tensorflow, json.loads(out.read_text())


def test_tensorflow_is_this_process_backend() -> None:
    assert keras.backend.backend() == "tensorflow"


@pytest.mark.slow  # the module's two processes take 30-60 s together
def test_kerasopt_imports_under_jax_without_tensorflow(results: Any) -> None:
    report = results[1]
    assert report["backend"] == "jax"
    assert report["import"] == {"kerasopt": "0.1.0", "tensorflow_imported": False}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASE_NAMES)
def test_component_matches_tensorflow_or_refuses(name: str, results: Any) -> None:
    jax = results[1]["cases"][name]
    assert "error" not in jax, jax.get("error")
    if name in EXPECTED_REFUSALS:
        message = jax.get("refused", "")
        assert message.startswith(EXPECTED_REFUSALS[name] + " supports the TensorFlow backend only")
        assert "Received: Keras backend 'jax'" in message and "KERAS_BACKEND=tensorflow" in message
        return
    tensorflow = results[0][name]
    assert "error" not in tensorflow, tensorflow.get("error")
    assert "refused" not in jax, jax["refused"]
    expected, got = np.array(tensorflow["values"]), np.array(jax["values"])
    assert expected.shape == got.shape and expected.size > 0
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=name)


def test_every_tensorflow_only_component_is_exercised() -> None:
    exercised = set(EXPECTED_REFUSALS.values()) | {_backend.RECIPE_RUNNER, "kerasopt.training.Closure"}
    assert exercised == set(_backend.TENSORFLOW_ONLY)


@pytest.mark.slow  # the module's two processes take 30-60 s together
def test_recipe_runner_refuses_jax_and_writes_nothing(results: Any) -> None:
    runner = results[1]["runner"]
    assert runner["cli_exit"] == 2
    assert runner["cli_stderr"].startswith(f"kerasopt: error: {_backend.RECIPE_RUNNER} supports "
                                           "the TensorFlow backend only")
    assert "Traceback" not in runner["cli_stderr"] and runner["cli_stderr"].count("\n") == 1
    assert runner["run_raised"].startswith("UnsupportedBackendError: " + _backend.RECIPE_RUNNER)
    assert not runner["cli_dir_created"] and not runner["run_dir_created"]


def test_require_tensorflow_is_silent_under_tensorflow() -> None:
    for component in _backend.TENSORFLOW_ONLY:
        _backend.require_tensorflow(component)


def test_require_tensorflow_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(_backend.UnsupportedBackendError,
                       match=r"^kerasopt.compression.quantization.QuantizeWrapper\(preserve_sparsity="
                             r"True\) supports the TensorFlow backend only: .* Received: Keras backend "
                             r"'torch'. Run with KERAS_BACKEND=tensorflow. Pass preserve_sparsity=False"):
        _backend.require_tensorflow(
            "kerasopt.compression.quantization.QuantizeWrapper(preserve_sparsity=True)")
    with pytest.raises(KeyError):
        _backend.require_tensorflow("kerasopt.optimizers.Adam")
