"""The run directory: every file a run writes goes through here, atomically, under a lock.

Writes land in a temporary file next to the target and are renamed into place, so a
crash never leaves a half-written artifact under its final name. `is_chief` is the one
place that decides whether this process writes (multi-worker runs write from the chief only).

A run directory proves it is kerasopt's by its manifest, `.kerasopt-run.json`
(:class:`~kerasopt.recipe.store.run_manifest.RunManifest`), which lists every top-level file and
folder kerasopt wrote there. A run directory is never destroyed by a new run: a
directory that holds a run is refused unless the run resumes it (`--resume`) or
replaces it (`--overwrite`), and a non-empty folder without a manifest is refused either
way. A replaced run's listed entries are moved aside into `.kerasopt-replaced-<time>/`
and deleted only once the new run has finished; entries the manifest does not list
(another program's files) stay where they are, and the run says it kept them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasopt.atomic import (
    atomic_target,
    ensure_space,
    leftover_of,
    remove_temporaries,
)
from kerasopt.recipe.errors import RunFailed, RunRefused
from kerasopt.recipe.store.run_lock import LOCK_NAME, RunLock
from kerasopt.recipe.store.run_manifest import (
    REPLACED_PREFIX,
    RunManifest,
    check_use,
    is_own_file,
    is_run_name,
)


class RunDirectory:
    """A run's output folder: `recipe.yaml`, `metrics.json`, `model.keras`, `logs/`, `checkpoints/`, exports.

    Args:
        root: The folder (created on first write).
        is_chief: Whether this process writes files. Defaults to `True`.
        recipe: The recipe's name, recorded in the manifest. Defaults to `""`.
    """

    def __init__(self, root: str | os.PathLike[str], *, is_chief: bool = True, recipe: str = "") -> None:
        self.root = Path(root)
        self.is_chief = is_chief
        self.recipe = recipe
        self.overwrite = False
        self.replaced: Path | None = None
        self.prepared = False
        self.manifest: RunManifest | None = None
        self.foreign: list[str] = []  # entries kerasopt did not write, found when the run began
        self._previous: RunManifest | None = None  # the replaced run's manifest

    @property
    def logs(self) -> Path:
        return self.path("logs")

    @property
    def checkpoints(self) -> Path:
        return self.path("checkpoints")

    def path(self, name: str) -> Path:
        """The final path of an artifact inside the run directory.

        Once the run has begun writing (:meth:`prepare`), the artifact's top-level entry is
        listed in the manifest before it is written.

        Raises:
            RunFailed: When that entry exists and kerasopt did not write it (it is not replaced).
        """
        if self.prepared and self.is_chief and self.manifest is not None:
            top = Path(name).parts[0]
            if top in self.foreign:
                raise RunFailed(
                    f"{self.root / top} was not written by kerasopt, and the run would replace it; "
                    f"move it out of {self.root}, then resume with --resume.")
            self.manifest.add(top)
        return self.root / name

    @contextlib.contextmanager
    def claimed(self, *, resume: bool, overwrite: bool = False) -> Iterator[RunDirectory]:
        """Hold the directory's lock for the block, after checking it may be used as asked.

        A kerasopt run directory (one with a manifest) is refused unless `resume` or
        `overwrite`; a non-empty folder without one is refused either way (its files are
        not kerasopt's to move), except that `resume` continues a run of a kerasopt that
        wrote no manifest. When the block ends normally, the run `overwrite` replaced is
        deleted; when it raises before the new run wrote anything, it is moved back.

        Args:
            resume: The run continues the directory's run.
            overwrite: The run replaces the directory's run. Defaults to `False`.

        Raises:
            RunRefused: When `root` is not a usable folder, another run holds its lock, or
                it may not be used as asked; nothing was written.
        """
        if resume and overwrite:
            raise RunRefused("--resume and --overwrite exclude each other: continue the run, or replace it.")
        if not self.is_chief:
            yield self
            return
        created = self._make_root()
        lock = RunLock(self.root)
        try:
            lock.acquire()
            try:
                self._check_use(resume=resume, overwrite=overwrite)
                self.overwrite = overwrite
                yield self
                self._drop_replaced()
            except BaseException:
                self._restore_replaced()
                raise
            finally:
                self._list_new_entries()
                lock.release()
        finally:
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: a refused or failed-at-once run leaves nothing

    def prepare(self, *, resume: bool) -> None:
        """Before the first write: write the manifest; a replacing run first moves the old run aside."""
        self.prepared = True
        if not self.is_chief:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self.manifest is None:
            self.manifest = RunManifest(self.root, self.recipe)
        # Left by a killed run of this folder (this process holds the lock); only in kerasopt's own entries.
        remove_temporaries(self.root, within=self.manifest.owns)
        if self.overwrite and not resume and self.replaced is None:
            self._move_aside()
        self.manifest.save()
        self.checkpoints.mkdir(exist_ok=True)

    def write_text(self, name: str, text: str) -> Path:
        """Write a text file atomically; returns its final path."""
        target = self.path(name)
        if self.is_chief:
            with atomic_target(target) as tmp:
                tmp.write_text(text, encoding="utf-8")
        return target

    def write_json(self, name: str, data: Any) -> Path:
        """Write strict JSON atomically (keys in insertion order, indented).

        Non-finite floats (NaN, infinity) are not JSON: they are written as `null`, and a
        mapping gets a `non_finite` key listing where they were (`evaluation.test.loss`).
        """
        clean, where = finite_only(data)
        if where and isinstance(clean, dict):
            clean["non_finite"] = where
        return self.write_text(name, json.dumps(clean, indent=2, allow_nan=False) + "\n")

    def remove_own(self, folder: str) -> None:
        """Delete the files kerasopt wrote under `folder` (relative), then the folders left empty;
        a file someone else put there stays, and so do the folders holding it."""
        base = self.root / folder
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.rmdir()  # only when empty
            elif is_own_file(path.relative_to(self.root).as_posix()):
                path.unlink()
        with contextlib.suppress(OSError):
            base.rmdir()

    def save_weights(self, model: Any, name: str) -> Path:
        """Save a model's weights (`name` ends in `.weights.h5`) atomically; returns the final path.

        Raises:
            NoSpaceError: When the disk fills up (the final name is left as it was).
        """
        target = self.path(name)
        if self.is_chief:
            with atomic_target(target, suffix=".weights.h5") as tmp:
                ensure_space(target, _weights_file_bytes(model))
                model.save_weights(tmp)
        return target

    def read_json(self, name: str) -> Any:
        """Read a JSON file of the run directory, or None when absent.

        Raises:
            ValueError: When the file is not valid JSON; the message names the file.
        """
        target = self.root / name
        if not target.exists():
            return None
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{target} is corrupt (not valid JSON: {err})") from None

    def _entries(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name != LOCK_NAME)

    def _make_root(self) -> list[Path]:
        """Create the folder (and missing parents); returns those created, deepest first.

        Raises:
            RunRefused: When `root` is a file, or a folder cannot be created there.
        """
        if self.root.exists() and not self.root.is_dir():
            raise RunRefused(f"--output-dir {self.root} is an existing file, not a folder; give a folder "
                             "(a new one is created).")
        missing = [p for p in (self.root, *self.root.parents) if not p.exists()]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            for folder in missing:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise RunRefused(f"--output-dir {self.root} cannot be created ({err.strerror or err}).") from None
        return missing

    def _check_use(self, *, resume: bool, overwrite: bool) -> None:
        entries = self._entries()
        if entries:
            self.manifest, self.foreign = check_use(self.root, entries, self.recipe, resume=resume,
                                                    overwrite=overwrite)

    def _move_aside(self) -> None:
        """Move the replaced run's entries (only those its manifest lists) into a hidden folder."""
        previous = self.manifest or RunManifest(self.root, self.recipe)
        owned = [name for name in self._entries() if name in previous.entries or leftover_of(name) in previous.entries]
        kept = [name for name in owned if name.startswith(REPLACED_PREFIX)]  # the user was told it is kept
        moving = [self.root / name for name in owned if name not in kept]
        self.manifest = RunManifest(self.root, self.recipe, kept)
        for name in kept:
            print(f"kerasopt: note: {self.root / name} (a run replaced earlier and kept after its "
                  "replacement failed) stays; delete it when no longer needed.", file=sys.stderr)
        if not moving:
            return
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.replaced = Path(tempfile.mkdtemp(prefix=f"{REPLACED_PREFIX}{stamp}-", dir=self.root))
        previous.add(self.replaced.name)  # listed from the moment it exists
        for entry in moving:
            os.replace(entry, self.replaced / entry.name)
        previous.entries.remove(self.replaced.name)
        self._previous = previous
        self.manifest.add(self.replaced.name)

    def _drop_replaced(self) -> None:
        """After the replacing run finished: delete the run it replaced."""
        if self.replaced is not None and self.manifest is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)
            self.manifest.discard(self.replaced.name)
            self.replaced = None

    def _restore_replaced(self) -> None:
        """After a failed replacing run: put the old run back if the new one wrote nothing."""
        if self.replaced is None or self.manifest is None or self._previous is None:
            return
        written = [self.root / name for name in self._entries()
                   if name != self.replaced.name and (name in self.manifest.entries
                                                      or leftover_of(name) in self.manifest.entries)]
        if all(p.is_dir() and not any(p.rglob("*")) for p in written):
            for entry in written:
                shutil.rmtree(entry, ignore_errors=True)
            for entry in self.replaced.iterdir():
                os.replace(entry, self.root / entry.name)
            self.replaced.rmdir()
            self.manifest = self._previous
            self.manifest.save()
        else:
            print(f"kerasopt: note: the run this one replaced is kept in {self.replaced} "
                  "(delete it when no longer needed).", file=sys.stderr)
        self.replaced = None

    def _list_new_entries(self) -> None:
        """As the run ends, list entries a run writes that appeared during it (a safety net)."""
        if not self.prepared or self.manifest is None or not self.root.is_dir():
            return
        for name in self.manifest.foreign(self._entries()):
            if name not in self.foreign and is_run_name(name):
                self.manifest.add(name)


def finite_only(data: Any, where: str = "") -> tuple[Any, list[str]]:
    """A copy of JSON-like data with non-finite floats as None, and the paths where they were.

    Example:
        >>> finite_only({"test": {"loss": float("nan"), "accuracy": 0.5}, "curve": [1.0, float("inf")]})
        ({'test': {'loss': None, 'accuracy': 0.5}, 'curve': [1.0, None]}, ['test.loss', 'curve[1]'])
    """
    if isinstance(data, float) and not math.isfinite(data):
        return None, [where or "<value>"]
    found: list[str] = []
    if isinstance(data, dict):
        clean: dict[Any, Any] = {}
        for key, value in data.items():
            clean[key], inner = finite_only(value, f"{where}.{key}" if where else str(key))
            found += inner
        return clean, found
    if isinstance(data, (list, tuple)):
        items = []
        for index, value in enumerate(data):
            item, inner = finite_only(value, f"{where}[{index}]")
            items.append(item)
            found += inner
        return items, found
    return data, found


def _weights_file_bytes(model: Any) -> int:
    """A generous estimate of a `.weights.h5` file's size: every model and optimizer variable's
    bytes, 4 KiB of HDF5 metadata for each, and 64 KiB for the file itself."""
    optimizer = getattr(model, "optimizer", None)
    variables = [*model.weights, *(getattr(optimizer, "variables", None) or [])]
    data = sum(int(math.prod(v.shape)) * _itemsize(v.dtype) for v in variables)
    return data + 4096 * len(variables) + 65536


def _itemsize(dtype: Any) -> int:
    import numpy as np

    return np.dtype(str(dtype)).itemsize
