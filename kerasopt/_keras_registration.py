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

When Keras is first imported from inside a kerasopt module (`import
kerasopt.compression.pruning` before `import keras`), registering right away would import
every component module while that module is only half initialized: a component importing
a name from it fails with a circular-import error. So until registration has run the
finder also counts the kerasopt modules being executed, and registration waits until the
outermost one has finished.
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


class _Pending:
    """Kerasopt modules executing now, and whether Keras was imported meanwhile."""

    depth = 0
    keras_imported = False


def _register_when_no_kerasopt_module_runs() -> None:
    if _Pending.depth > 0:
        _Pending.keras_imported = True
        return
    _Pending.keras_imported = False
    uninstall()
    register_components()


class _WrappingLoader(importlib.abc.Loader):
    """Runs a module's own loader inside `_wrapped_exec` (the module keeps its real loader)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_code (runpy, `python -m`), get_source...
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._wrapped_exec(module)

    def _wrapped_exec(self, module: ModuleType) -> None:
        """Run `self._loader.exec_module(module)` with what the subclass adds around it."""
        raise NotImplementedError(f"{type(self).__name__} must define `_wrapped_exec`.")


class _RegisteringLoader(_WrappingLoader):
    """Runs Keras's own loader, then `register_components()` (now or once no kerasopt module runs)."""

    def _wrapped_exec(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _register_when_no_kerasopt_module_runs()


class _CountingLoader(_WrappingLoader):
    """Runs a kerasopt module's loader, counted, and registers after the outermost one."""

    def _wrapped_exec(self, module: ModuleType) -> None:
        _Pending.depth += 1
        try:
            self._loader.exec_module(module)
        finally:
            _Pending.depth -= 1
        if _Pending.keras_imported:
            _register_when_no_kerasopt_module_runs()


class KerasImportFinder(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` finder wrapping the loaders of `keras` and of kerasopt's modules."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        """Return the real spec with a wrapped loader for `keras` and `kerasopt.*`, else None."""
        if fullname == "keras":
            wrapper: type[_WrappingLoader] = _RegisteringLoader
        elif fullname.startswith("kerasopt."):
            wrapper = _CountingLoader
        else:
            return None
        spec = self._real_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = wrapper(spec.loader)
        return spec

    def _real_spec(self, fullname: str, path: Any, target: Any) -> Any:
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


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
