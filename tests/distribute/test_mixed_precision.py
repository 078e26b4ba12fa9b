"""kerasopt's optimizers under the mixed_float16 policy (Keras's dynamic loss scaling).

Keras's `compile` wraps the optimizer in a `LossScaleOptimizer` under `mixed_float16`: the
loss is multiplied by a dynamic scale and the gradients divided back before the inner
optimizer's `apply`. First-order optimizers must then take the step they take in float32
(up to float16 rounding of the forward pass; a missed unscaling would be `scale` times
off). The tests pass a `LossScaleOptimizer` with `initial_scale=64` (Keras keeps one it is
given): Keras's default of 2**15 overflows float16 gradients in the first steps, which the
wrapper then skips while halving the scale, so a few steps would not compare with float32. The
line-search and closure optimizers cannot be served through the wrapper and must refuse
with a message naming mixed_float16, in plain Keras code and in a recipe (exit 2).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasopt.cli import main as cli_main
from kerasopt.optimizers._line_search_optimizer import LineSearchOptimizer
from kerasopt.training import enable_closure
from tests.optimizers.test_conformance import REGISTERED, _settings_for
from tests.tiny_recipe import write_tiny_recipe

pytestmark = pytest.mark.slow


def _train(settings, policy: str) -> tuple[list[np.ndarray], list[np.ndarray]]:  # noqa: ANN001
    """Initial and trained weights of a tiny regression under `policy`."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                                  keras.layers.Dense(1, dtype="float32")])
        optimizer = settings.make()
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=64.0)
        model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
        if settings.needs_train_step:
            enable_closure(model)
        initial = [np.asarray(w, "float64") for w in model.get_weights()]
        model.fit(x, y, batch_size=16 if settings.full_batch else 8, epochs=2, shuffle=False, verbose=0)
        return initial, [np.asarray(w, "float64") for w in model.get_weights()]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _refuses(cls: type, settings) -> bool:  # noqa: ANN001
    return issubclass(cls, LineSearchOptimizer) or settings.needs_train_step


@pytest.mark.parametrize("cls", list(REGISTERED), ids=lambda cls: cls.__name__)
def test_optimizer_under_loss_scaling(cls: type) -> None:
    settings = _settings_for(cls)
    if _refuses(cls, settings):
        with pytest.raises(ValueError, match="mixed_float16"):
            _train(settings, "mixed_float16")
        return
    initial, reference = _train(settings, "float32")
    _, mixed = _train(settings, "mixed_float16")
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(initial, reference, strict=True))
    assert moved > 0.02  # the steps are large against the tolerance below
    for ours, theirs in zip(mixed, reference, strict=True):  # every step applied, unscaled
        assert np.all(np.isfinite(ours))
        np.testing.assert_allclose(ours, theirs, atol=5e-3)


def test_recipe_with_lbfgs_under_mixed_float16_exits_2(tmp_path: Path) -> None:
    recipe = write_tiny_recipe(tmp_path, data={"batch_size": "full"},
                               training={"epochs": 1, "optimizer": {"type": "lbfgs"}},
                               runtime={"mixed_precision": "mixed_float16", "device": "cpu"})
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli_main(["run", recipe, "--output-dir", str(tmp_path / "run")])
    assert status == 2
    assert "training.optimizer: LBFGS cannot run under mixed_float16" in stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()
    assert not (tmp_path / "run").exists()
    assert keras.mixed_precision.global_policy().name == "float32"  # the run put it back
