"""The signature table of the installed Keras: the shipped one, or one generated once and cached.

kerasopt ships `kerasopt/registry_table.json`, built from the registry with the Keras
version it names (`keras_version`). The recipe validator reads it without importing Keras.
When the installed Keras is another version (`pyproject.toml` sets no upper bound), its
components and signatures may differ, so kerasopt builds the table from the live registry
once (importing Keras, a few seconds) and caches it in the user cache directory:
`$XDG_CACHE_HOME/kerasopt/` or `~/.cache/kerasopt/`. Later processes read the cached file
without importing Keras.

The cached file's name holds the Keras version, the kerasopt version and a hash of the
source files the table is built from (the component packages and the registry itself), so
upgrading either package, or editing a component in a checkout, makes a new one. Files are
written atomically (a temporary file, then a rename), so a reader never sees half a table
and two processes building at once both end with a whole file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from kerasopt._version import __version__
from kerasopt.atomic import write_json
from kerasopt.registry import COMPONENT_PACKAGES
from kerasopt.registry_table import TABLE_PATH, build_table

# Modules outside the component packages whose code decides the table's content.
TABLE_MODULES: tuple[str, ...] = ("kerasopt.registry", "kerasopt.registry_table", "kerasopt.compile_names")


def installed_keras_version() -> str | None:
    """The installed Keras version, from package metadata (Keras is not imported); None if absent."""
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return None


def cache_dir() -> Path:
    """Where kerasopt caches generated tables: `$XDG_CACHE_HOME/kerasopt` or `~/.cache/kerasopt`.

    A relative `XDG_CACHE_HOME` is ignored, as the XDG base directory specification says.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "kerasopt"


def _source_files() -> list[Path]:
    """The source files the table is built from, found without importing them."""
    files: list[Path] = []
    for name in COMPONENT_PACKAGES:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            files += Path(folder).rglob("*.py")
    for name in TABLE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            files.append(Path(spec.origin))
    return sorted(set(files))


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """A SHA-256 of the component and registry source files (names and contents), once per process."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in _source_files():
        resolved = path.resolve()
        name = resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
        digest.update(f"{name.as_posix()}\0".encode())
        digest.update(resolved.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def cached_table_path(keras_version: str) -> Path:
    """The cache file of the table for a Keras version, this kerasopt version and its sources."""
    safe = "".join(c if c.isalnum() or c in ".+-_" else "_" for c in keras_version)
    return cache_dir() / f"registry_table-keras{safe}-kerasopt{__version__}-{source_hash()[:16]}.json"


def shipped_table() -> dict[str, Any]:
    """The table shipped with kerasopt (built with the Keras version it names)."""
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


def current_table() -> dict[str, Any]:
    """The signature table for the installed Keras.

    The shipped table when the installed Keras is the version it was built with (or
    Keras's metadata is missing); otherwise the cached table of the installed version,
    generated from the live registry (importing Keras) the first time and written to
    :func:`cached_table_path`. A cache directory that cannot be written only means the
    next process generates the table again.

    Returns:
        The table: `{"keras_version": ..., "kinds": {kind: {key: entry}}}`.
    """
    shipped = shipped_table()
    installed = installed_keras_version()
    if installed is None or installed == shipped.get("keras_version"):
        return shipped
    path = cached_table_path(installed)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # not generated yet, or unreadable: build it again
    table = build_table()
    try:
        write_json(path, table)
    except OSError:
        pass  # a read-only home: use the table built now, without caching it
    return table


def load_table(path: Path | None = None) -> dict[str, Any]:
    """The table file at `path`, or the installed Keras's (:func:`current_table`)."""
    if path is not None:
        return json.loads(path.read_text(encoding="utf-8"))
    return current_table()
