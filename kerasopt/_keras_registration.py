"""Register every kerasopt component with Keras serialization once Keras is imported.

A `.keras` file names kerasopt classes by registered name (`"kerasopt>Lookahead"`), and
Keras resolves such a name only from its table of registered objects: it never imports
the module recorded next to it (`keras.saving` imports recorded modules only for
`keras`, `keras_hub`, `keras_cv` and `keras_nlp`). A class is in that table once the
module defining it has run its `@register` decorator. So that `import kerasopt` alone
is enough to load any file holding kerasopt components, while `import kerasopt` itself
stays free of Keras and TensorFlow (the command line's `--help`, `list`, `show` and
`schema` rely on that), `install()`:

- if `keras` is already imported, registers every component now
  (`kerasopt.registry.load_components()`, about 0.1 s once Keras is loaded);
- otherwise puts a finder on `sys.meta_path` that does nothing until `keras` itself is
  imported, and then registers every component right after Keras's `__init__` has run
  (the finder removes itself first, so it runs once and leaves Keras's module spec and
  loader as they were).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any


def register_components() -> None:
    """Import every kerasopt component module, so all register with `keras.saving`."""
    from kerasopt import registry

    registry.load_components()


class _RegisteringLoader(importlib.abc.Loader):
    """Runs Keras's own loader, then `register_components()`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # Keras's module keeps its real loader; only this one execution is wrapped.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        register_components()


class KerasImportFinder(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` finder that wraps the loader of the top-level `keras` module."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        """Return Keras's own spec with a registering loader; None for every other module."""
        if fullname != "keras":
            return None
        uninstall()
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


def _finders() -> list[Any]:
    return [f for f in sys.meta_path if isinstance(f, KerasImportFinder)]


def install() -> None:
    """Register components now if Keras is imported, else as soon as it is (see module doc)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        spec = getattr(keras, "__spec__", None)
        if not getattr(spec, "_initializing", False):
            register_components()
        # Keras still initializing (kerasopt imported from inside Keras's own import):
        # nothing can use it yet; components register as their modules are imported.
        return
    if not _finders():
        sys.meta_path.insert(0, KerasImportFinder())


def uninstall() -> None:
    """Remove the finder (it removes itself when Keras is imported)."""
    for finder in _finders():
        sys.meta_path.remove(finder)
