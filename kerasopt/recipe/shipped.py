"""Where the shipped recipes are (no schema import: `kerasopt list` stays instant)."""

from __future__ import annotations

from pathlib import Path as FsPath

PACKAGE_DIR = FsPath(__file__).resolve().parent.parent


def recipes_dir() -> FsPath:
    """Where the shipped recipes are: inside an installed wheel, or the source checkout."""
    bundled = PACKAGE_DIR / "_recipes"
    return bundled if bundled.is_dir() else PACKAGE_DIR.parent / "recipes"


def shipped_recipes() -> list[FsPath]:
    """Every shipped recipe file, recursively, sorted."""
    root = recipes_dir()
    return sorted(p for p in root.rglob("*.yaml") if not p.name.startswith("_")) if root.is_dir() else []


def shipped_names() -> dict[str, FsPath]:
    """Shipped recipes by the name `kerasopt list` prints: the path below the folder, without `.yaml`."""
    root = recipes_dir()
    return {p.relative_to(root).with_suffix("").as_posix(): p for p in shipped_recipes()}
