"""Mirrored conformance checks of optimizers: every registered one, and Keras's shared arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tests.distribute._fixtures import all_variables, data, mlp, replica_spread, weights


def optimizer_check(settings: Any) -> Callable[[Any], dict[str, Any]]:
    """A few steps of `settings.make()` on the MLP (line searches: full batch)."""

    def check(strategy: Any) -> dict[str, Any]:
        from kerasopt.training import enable_closure

        x, y = data()
        # Several passes over the data in one epoch (less per-epoch work than several epochs).
        batch, passes = (16, 5) if settings.full_batch else (8, 2)
        with strategy.scope():
            model = mlp()
            model.compile(optimizer=settings.make(), loss="mse", jit_compile=False)
        if settings.needs_train_step:
            enable_closure(model)
        model.fit(np.tile(x, (passes, 1)), np.tile(y, (passes, 1)), batch_size=batch, epochs=1,
                  shuffle=False, verbose=0)
        return {**weights(model), "replica_spread": replica_spread(all_variables(model))}

    return check


def optimizer_checks() -> dict[str, Callable[[Any], dict[str, Any]]]:
    """One check per registered kerasopt optimizer class (by its first registered name)."""
    from tests.optimizers.test_conformance import REGISTERED, _settings_for

    checks = {}
    for cls, names in REGISTERED.items():
        settings = _settings_for(cls)
        if settings is None:  # the optimizer suite fails for it; say so here too
            raise ValueError(f"{cls.__name__} has no Conformance settings in tests/optimizers/.")
        checks[f"optimizer:{names[0]}"] = optimizer_check(settings)
    return checks


def variant_check(make: Callable[[], Any], policy: str = "float32") -> Callable[[Any], dict[str, Any]]:
    """Four steps of the optimizer `make()` builds (shared Keras arguments) under `policy`."""

    def check(strategy: Any) -> dict[str, Any]:
        import keras

        x, y = data()
        keras.mixed_precision.set_global_policy(policy)
        try:
            with strategy.scope():
                model = mlp()
                model.compile(optimizer=make(), loss="mse", jit_compile=False)
            model.fit(np.tile(x, (2, 1)), np.tile(y, (2, 1)), batch_size=8, epochs=1, shuffle=False,
                      verbose=0)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        return {**weights(model), "replica_spread": replica_spread(all_variables(model))}

    return check


def variant_checks() -> dict[str, Callable[[Any], dict[str, Any]]]:
    """A kerasopt optimizer with each of Keras's shared optimizer arguments that acts on gradients."""
    import keras

    from kerasopt.optimizers import LazyAdam, RectifiedAdam

    return {
        "variant:clipnorm": variant_check(lambda: LazyAdam(0.05, clipnorm=0.5)),
        "variant:clipvalue": variant_check(lambda: LazyAdam(0.05, clipvalue=0.1)),
        "variant:global_clipnorm+accumulation": variant_check(
            lambda: LazyAdam(0.05, global_clipnorm=0.5, gradient_accumulation_steps=2)),
        "variant:weight_decay+ema": variant_check(
            lambda: RectifiedAdam(0.05, weight_decay=0.1, use_ema=True, ema_momentum=0.5)),
        "variant:mixed_float16 loss scaling": variant_check(
            lambda: keras.optimizers.LossScaleOptimizer(LazyAdam(0.05, global_clipnorm=0.5),
                                                        initial_scale=64.0), "mixed_float16"),
    }

