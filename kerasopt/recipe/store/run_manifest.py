"""`RunManifest`: `.kerasopt-run.json`, which makes a folder a provable kerasopt run and lists what kerasopt wrote.

kerasopt writes the manifest (atomically) before the first artifact of a run and again
before each new top-level entry (file or folder) of the run directory, so it always
lists at least what exists of the run. A folder listed there is kerasopt's as a whole
(`checkpoints/`, `logs/`, `saved_model/`, `workers/`); an entry it does not list is not
kerasopt's, and `--overwrite` neither moves nor deletes it.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import sys
from pathlib import Path
from typing import Any

from kerasopt.atomic import atomic_target, is_temporary, leftover_of
from kerasopt.recipe.errors import RunRefused
from kerasopt.recipe.store.run_lock import LOCK_NAME

MANIFEST_NAME = ".kerasopt-run.json"
FORMAT = 1
REPLACED_PREFIX = ".kerasopt-replaced-"
RUN_ENTRIES = ("recipe.yaml", "metrics.json", "checkpoints", "logs", "workers", "model.keras",
               "model_float.keras", "saved_model", "model.tflite", "model_float.tflite", "model.onnx",
               "lr_find_*.png", f"{REPLACED_PREFIX}*")
"""The top-level names a run writes (fnmatch patterns): an entry of another program's under one
of these names would be replaced by the run, so it is refused up front."""
SHOWN = 8  # entries named in a message


OWN_FILES = ("checkpoints/progress.json", "checkpoints/*.weights.h5", "checkpoints/backup_*/backup*.json",
             "checkpoints/backup_*/epoch_*", "logs/*events.out.tfevents.*", "workers/*.log",
             "saved_model/*", f"{REPLACED_PREFIX}*")
"""The files kerasopt writes inside the folders it lists (fnmatch patterns on paths relative to
the run directory; `*` crosses folders): a file inside them that matches none (a user's notes
in `checkpoints/`) is not kerasopt's, and kerasopt neither moves nor deletes it."""


def is_own_file(relative: str) -> bool:
    """Whether a file at `relative` (a path inside a folder a run lists) is one kerasopt writes.

    Example:
        >>> is_own_file("checkpoints/backup_train/epoch_3.weights.h5"), is_own_file("checkpoints/notes.txt")
        (True, False)
        >>> is_own_file("logs/train/events.out.tfevents.1765.vm.12.0.v2")
        True
    """
    parts = relative.split("/")
    return (any(fnmatch.fnmatchcase(relative, pattern) for pattern in OWN_FILES)
            or any(is_temporary(part) for part in parts))


def foreign_files(root: Path, folders: list[str]) -> list[str]:
    """The files under `root`'s `folders` (names of entries a run lists) that kerasopt did not write."""
    found = []
    for folder in folders:
        base = root / folder
        if base.is_dir() and not base.is_symlink():
            found += [path.relative_to(root).as_posix() for path in sorted(base.rglob("*"))
                      if not path.is_dir() and not is_own_file(path.relative_to(root).as_posix())]
    return found


def is_run_name(name: str) -> bool:
    """Whether a run directory's top-level `name` is one a kerasopt run writes.

    Example:
        >>> is_run_name("metrics.json"), is_run_name("lr_find_train.png"), is_run_name("notes.txt")
        (True, True, False)
    """
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RUN_ENTRIES)


class RunManifest:
    """The manifest of one run directory.

    Args:
        root: The run directory.
        recipe: The name of the recipe whose run wrote it.
        entries: The top-level names kerasopt created there. Defaults to none.
        created: When the run directory's run began (ISO 8601). Defaults to now.

    Example:
        >>> import tempfile
        >>> manifest = RunManifest(tempfile.mkdtemp(), "tiny")
        >>> manifest.add("metrics.json"), manifest.add("metrics.json")
        (True, False)
        >>> RunManifest.read(manifest.root).entries
        ['metrics.json']
        >>> manifest.foreign(["metrics.json", ".metrics.json.0123abcd.tmp.json", "notes.txt"])
        ['notes.txt']
    """

    def __init__(self, root: str | os.PathLike[str], recipe: str, entries: list[str] | None = None,
                 created: str | None = None) -> None:
        self.root = Path(root)
        self.recipe = recipe
        self.entries = list(entries or [])
        self.created = created or datetime.datetime.now().astimezone().isoformat(timespec="seconds")

    @classmethod
    def read(cls, root: str | os.PathLike[str]) -> RunManifest | None:
        """The manifest of `root`, or None when it has none.

        Raises:
            RunRefused: When the file is not a kerasopt manifest (the run directory cannot be
                proven to be kerasopt's).
        """
        path = Path(root) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError) as err:
            data = {"unreadable": str(err)}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not (isinstance(entries, list) and all(isinstance(e, str) and "/" not in e and e not in ("", ".", "..") for e in entries)):
            raise RunRefused(
                f"{path} is not a kerasopt run manifest (expected a JSON object with an `entries` list "
                "of names), so kerasopt cannot tell which files in it are its own and leaves them "
                "alone. Use another --output-dir.")
        return cls(root, str(data.get("recipe", "")), entries, data.get("created"))

    def add(self, name: str) -> bool:
        """List a top-level entry and write the manifest; returns whether it was new."""
        if name in self.entries:
            return False
        self.entries.append(name)
        self.save()
        return True

    def discard(self, name: str) -> None:
        """Take an entry off the list (when it has been deleted) and write the manifest."""
        if name in self.entries:
            self.entries.remove(name)
            self.save()

    def owns(self, name: str) -> bool:
        """Whether a top-level entry is kerasopt's: listed, the lock or manifest, or a leftover of those."""
        own = {*self.entries, LOCK_NAME, MANIFEST_NAME}
        return name in own or leftover_of(name) in own

    def foreign(self, names: list[str]) -> list[str]:
        """The names among `names` that kerasopt did not write."""
        return [name for name in names if not self.owns(name)]

    def save(self) -> None:
        """Write `.kerasopt-run.json` atomically."""
        from kerasopt._version import __version__

        content: dict[str, Any] = {
            "kerasopt": __version__, "format": FORMAT, "recipe": self.recipe, "created": self.created,
            "entries": sorted(self.entries),
            "about": "The files and folders kerasopt wrote in this run directory; "
                     "`kerasopt run --overwrite` moves and deletes only these."}
        with atomic_target(self.root / MANIFEST_NAME) as tmp:
            tmp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def written_by_earlier_kerasopt(root: Path) -> bool:
    """Whether a folder without a manifest holds a run of a kerasopt that wrote none (before 0.4).

    Such a run has a resolved `recipe.yaml` (first line `# Resolved from ...`) and a
    `checkpoints/progress.json` holding the recipe's hash.
    """
    try:
        with open(root / "recipe.yaml", encoding="utf-8") as handle:
            first = handle.readline(4096)
        progress = json.loads((root / "checkpoints" / "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return first.startswith("# Resolved from ") and isinstance(progress, dict) and "recipe_sha256" in progress


def check_use(root: Path, entries: list[str], recipe: str, *, resume: bool,
              overwrite: bool) -> tuple[RunManifest, list[str]]:
    """Whether a run may use a non-empty folder as asked; returns its manifest and the foreign entries.

    A kerasopt run directory may be resumed or replaced; a run of an earlier kerasopt
    (no manifest) only resumed; anything else is refused. Entries the manifest does not
    list are another program's: they stay (`--overwrite` names them), unless they sit
    under a name the run writes, which is refused.

    Args:
        root: The folder.
        entries: Its top-level names (without the lock's record), not empty.
        recipe: The name of the recipe about to run.
        resume: The run continues the folder's run.
        overwrite: The run replaces the folder's run.

    Raises:
        RunRefused: When the folder may not be used as asked (the message says what was
            found and how to go on).
    """
    manifest = RunManifest.read(root)
    if manifest is None:
        manifest = _earlier_run(root, entries, recipe, resume=resume, overwrite=overwrite)
    foreign = manifest.foreign(entries)
    if not (resume or overwrite):
        what = "a finished run" if (root / "metrics.json").exists() else "an unfinished run"
        raise RunRefused(
            f"{root} already holds {what}. Use --resume to continue it, --overwrite to "
            "replace it (the old files are deleted once the new run finishes), or another "
            "--output-dir.")
    clashing = [name for name in foreign if is_run_name(name)]
    if clashing:
        raise RunRefused(
            f"{root} is a kerasopt run directory, but {_names(root, clashing)} in it "
            f"{'was' if len(clashing) == 1 else 'were'} not written by kerasopt (not listed in its "
            f"{MANIFEST_NAME}) and the run would write there; kerasopt does not replace files it "
            "did not write. Move them out of the folder, or use another --output-dir.")
    inside = foreign_files(root, sorted(manifest.entries)) if overwrite else []
    if inside:
        raise RunRefused(
            f"{root} is a kerasopt run directory, but {_names(root, inside)} inside its folders "
            f"{'was' if len(inside) == 1 else 'were'} not written by kerasopt, and --overwrite would "
            "delete the folders that hold them; kerasopt does not delete files it did not write. "
            "Move them out of the run directory, then run again.")
    if foreign and overwrite:
        print(f"kerasopt: note: --overwrite replaces only what kerasopt wrote in {root}; "
              f"it keeps {_names(root, foreign)}, which kerasopt did not write.", file=sys.stderr)
    return manifest, foreign


def _earlier_run(root: Path, entries: list[str], recipe: str, *, resume: bool, overwrite: bool) -> RunManifest:
    """A folder without a manifest: refused, unless `resume` continues an earlier kerasopt's run
    (its entries under names a run writes are then listed as kerasopt's)."""
    if not written_by_earlier_kerasopt(root):
        raise RunRefused(
            f"{root} is not empty and is not a kerasopt run directory (it has no "
            f"{MANIFEST_NAME}); it holds {_names(root, entries)}. kerasopt never writes "
            "into, moves or deletes a folder of files it did not write, with or without "
            "--overwrite: choose another --output-dir (a new or empty folder).")
    if overwrite:
        raise RunRefused(
            f"{root} holds a run of an earlier kerasopt, which wrote no {MANIFEST_NAME} "
            "listing its files, so --overwrite cannot tell them from other files and leaves the "
            "folder alone. Delete it yourself if nothing else is in it, use another "
            "--output-dir, or continue it with --resume (which lists its files from then on).")
    if not resume:
        raise RunRefused(
            f"{root} already holds a run (of an earlier kerasopt). Use --resume to continue "
            "it, or another --output-dir.")
    return RunManifest(root, recipe, [name for name in entries if is_run_name(name)])


def _names(root: Path, names: list[str]) -> str:
    """`a.txt, src/, ...` (folders end in `/`), at most SHOWN names."""
    shown = [f"{name}/" if (root / name).is_dir() else name for name in names[:SHOWN]]
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(shown) + more
