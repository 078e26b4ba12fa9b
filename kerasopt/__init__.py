"""kerasopt: Keras 3 optimizers, schedules, callbacks and compression, with YAML training recipes.

Importing `kerasopt` is cheap: subpackages (`kerasopt.optimizers`, `kerasopt.callbacks`,
...) load Keras only when first used, so the `kerasopt` command line answers `--help`,
`list`, `show` and `schema` without importing TensorFlow.

`import kerasopt` is also all a process needs to load `.keras` files holding kerasopt
components: every component is registered with `keras.saving` as soon as Keras is
imported, before or after kerasopt (see `kerasopt._keras_registration`).
"""

from __future__ import annotations

import importlib
from typing import Any

from kerasopt import _keras_registration
from kerasopt._version import __version__

_SUBPACKAGES = (
    "callbacks", "compression", "data", "distribute", "export", "initializers", "losses", "metrics", "models",
    "optimizers", "recipe", "registry", "schedules", "training",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"kerasopt.{name}")
    raise AttributeError(f"module 'kerasopt' has no attribute {name!r}")


_keras_registration.install()
