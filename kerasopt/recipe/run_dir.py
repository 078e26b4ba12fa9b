"""The run directory: every file a run writes goes through here, atomically, under a lock.

Writes land in a temporary file next to the target and are renamed into place, so a
crash never leaves a half-written artifact under its final name. `is_chief` is the one
place that decides whether this process writes (multi-worker runs write from the chief only).

A run directory is never destroyed by a new run: a directory that holds a run is refused
unless the run resumes it (`--resume`) or replaces it (`--overwrite`); a replaced run's
files are moved aside into `.kerasopt-replaced-<time>/` and deleted only once the new run
has finished.
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

from kerasopt.export.atomic import (
    NoSpaceError,
    atomic_target,
    fault_point,
    is_no_space,
    remove_temporaries,
)
from kerasopt.recipe.run_errors import RunRefused
from kerasopt.recipe.run_lock import LOCK_NAME, RunLock

REPLACED_PREFIX = ".kerasopt-replaced-"
RUN_MARKERS = ("recipe.yaml", "metrics.json", "checkpoints")


class RunDirectory:
    """A run's output folder: `recipe.yaml`, `metrics.json`, `model.keras`, `logs/`, `checkpoints/`, exports.

    Args:
        root: The folder (created on first write).
        is_chief: Whether this process writes files. Defaults to `True`.
    """

    def __init__(self, root: str | os.PathLike[str], *, is_chief: bool = True) -> None:
        self.root = Path(root)
        self.is_chief = is_chief
        self.overwrite = False
        self.replaced: Path | None = None
        self.prepared = False

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def path(self, name: str) -> Path:
        """The final path of an artifact inside the run directory."""
        return self.root / name

    @contextlib.contextmanager
    def claimed(self, *, resume: bool, overwrite: bool = False) -> Iterator[RunDirectory]:
        """Hold the directory's lock for the block, after checking it may be used as asked.

        A directory holding a run (`recipe.yaml`, `metrics.json` or `checkpoints/`) is
        refused unless `resume` or `overwrite`; a non-empty directory that holds no run is
        refused either way (its files are not the runner's to move). When the block ends
        normally, the content replaced by `overwrite` is deleted; when it raises before
        the new run wrote anything, that content is moved back.

        Args:
            resume: The run continues the directory's run.
            overwrite: The run replaces the directory's run. Defaults to `False`.

        Raises:
            RunRefused: When the directory is locked by another run or may not be used.
        """
        if resume and overwrite:
            raise RunRefused("--resume and --overwrite exclude each other: continue the run, or replace it.")
        if not self.is_chief:
            yield self
            return
        created = not self.root.exists()
        lock = RunLock(self.root)
        lock.acquire()
        try:
            self._check_use(resume=resume, overwrite=overwrite)
            self.overwrite = overwrite
            yield self
            if self.replaced is not None:
                shutil.rmtree(self.replaced, ignore_errors=True)
                self.replaced = None
        except BaseException:
            self._restore_replaced()
            raise
        finally:
            lock.release()
            if created and self.root.is_dir() and not any(self.root.iterdir()):
                self.root.rmdir()

    def prepare(self, *, resume: bool) -> None:
        """Create the folder for the first write; a replacing run first moves the old run aside."""
        self.prepared = True
        if not self.is_chief:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.root)  # left by a killed run; this process holds the lock
        if self.overwrite and not resume and self.replaced is None:
            old = self._entries()
            if old:
                stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
                self.replaced = Path(tempfile.mkdtemp(prefix=f"{REPLACED_PREFIX}{stamp}-", dir=self.root))
                for entry in old:
                    os.replace(entry, self.replaced / entry.name)
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

    def save_weights(self, model: Any, name: str) -> Path:
        """Save a model's weights (`name` ends in `.weights.h5`) atomically; returns the final path.

        Raises:
            NoSpaceError: When the disk fills up (the final name is left as it was).
        """
        target = self.path(name)
        if self.is_chief:
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".weights.", dir=target.parent))
            try:
                model.save_weights(scratch / target.name)
                fault_point(target)
                os.replace(scratch / target.name, target)
            except Exception as err:
                if is_no_space(err) and not isinstance(err, NoSpaceError):
                    raise NoSpaceError(target) from err
                raise
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        return target

    def read_json(self, name: str) -> Any:
        """Read a JSON file of the run directory, or None when absent.

        Raises:
            ValueError: When the file is not valid JSON; the message names the file.
        """
        target = self.path(name)
        if not target.exists():
            return None
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{target} is corrupt (not valid JSON: {err})") from None

    def _entries(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if p.name != LOCK_NAME) if self.root.is_dir() else []

    def _check_use(self, *, resume: bool, overwrite: bool) -> None:
        entries = self._entries()
        if not entries:
            return
        holds_run = any((self.root / name).exists() for name in RUN_MARKERS) or any(
            p.name.startswith(REPLACED_PREFIX) for p in entries)
        if not holds_run:
            names = ", ".join(p.name for p in entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise RunRefused(
                f"{self.root} is not empty ({names}) and holds no kerasopt run (no recipe.yaml, "
                "metrics.json or checkpoints/); choose another --output-dir.")
        if resume or overwrite:
            return
        what = "a finished run" if (self.root / "metrics.json").exists() else "an unfinished run"
        raise RunRefused(
            f"{self.root} already holds {what}. Use --resume to continue it, --overwrite to "
            "replace it (the old files are deleted once the new run finishes), or another "
            "--output-dir.")

    def _restore_replaced(self) -> None:
        """After a failed replacing run: put the old run back if the new one wrote nothing."""
        if self.replaced is None:
            return
        written = [p for p in self._entries() if p != self.replaced]
        if all(p.is_dir() and not any(p.rglob("*")) for p in written):
            for entry in written:
                shutil.rmtree(entry, ignore_errors=True)
            for entry in self.replaced.iterdir():
                os.replace(entry, self.root / entry.name)
            self.replaced.rmdir()
        else:
            print(f"kerasopt: note: the run this one replaced is kept in {self.replaced} "
                  "(delete it when no longer needed).", file=sys.stderr)
        self.replaced = None


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
