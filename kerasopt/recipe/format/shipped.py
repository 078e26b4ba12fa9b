"""Where the shipped recipes are (no schema import: `kerasopt list` stays instant)."""

from __future__ import annotations

import re
from pathlib import Path as FsPath

PACKAGE_DIR = FsPath(__file__).resolve().parents[2]


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


_NAME_LINE = re.compile(r"^name:\s*['\"]?([^'\"#\s]+)", re.MULTILINE)
_RUN_COMMAND = re.compile(r"^#\s+(kerasopt run \S+(?: \S+)*? --output-dir (\S+))\s*$", re.MULTILINE)


def producer_command(path: str) -> str | None:
    """The command that writes `path` when a shipped recipe writes it, else None.

    A run writes into `saved_models/<recipe name>/` unless its command gives
    `--output-dir`; a shipped recipe's opening comment holds its exact command. So a path
    below `saved_models/<dir>/` is written by the shipped recipe named `<dir>`, or by the
    one whose comment runs it with `--output-dir saved_models/<dir>`.

    Example:
        >>> producer_command("saved_models/digits_mlp/model.keras")
        'kerasopt run digits_mlp'
    """
    parts = FsPath(path).parts
    if len(parts) < 3 or parts[0] != "saved_models":
        return None
    by_name, by_output = {}, {}
    for name, recipe in shipped_names().items():
        text = recipe.read_text(encoding="utf-8", errors="replace")
        if (found := _NAME_LINE.search(text)) is not None:
            by_name.setdefault(found.group(1), name)
        for command, output in _RUN_COMMAND.findall(text):
            by_output.setdefault(FsPath(output).parts, command)
    for depth in range(len(parts) - 1, 1, -1):  # the deepest run folder that a recipe writes
        if parts[:depth] in by_output:
            return by_output[parts[:depth]]
    return f"kerasopt run {by_name[parts[1]]}" if parts[1] in by_name else None
