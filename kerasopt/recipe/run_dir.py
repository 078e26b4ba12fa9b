"""The run directory: every file a run writes goes through here, atomically.

Writes land in a temporary file next to the target and are renamed into place, so a
crash never leaves a half-written artifact under its final name. `is_chief` is the one
place that decides whether this process writes (multi-worker runs write from the chief only).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kerasopt.export.atomic import atomic_target


class RunDirectory:
    """A run's output folder: `recipe.yaml`, `metrics.json`, `model.keras`, `logs/`, `checkpoints/`, exports.

    Args:
        root: The folder (created on first write).
        is_chief: Whether this process writes files. Defaults to `True`.
    """

    def __init__(self, root: str | os.PathLike[str], *, is_chief: bool = True) -> None:
        self.root = Path(root)
        self.is_chief = is_chief

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def path(self, name: str) -> Path:
        """The final path of an artifact inside the run directory."""
        return self.root / name

    def prepare(self, *, resume: bool) -> None:
        """Create the folder; a fresh (not resumed) run clears the logs and checkpoints of an old one."""
        if not self.is_chief:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if not resume:
            for stale in (self.logs, self.checkpoints):
                if stale.exists():
                    shutil.rmtree(stale)
        self.checkpoints.mkdir(exist_ok=True)

    def write_text(self, name: str, text: str) -> Path:
        """Write a text file atomically; returns its final path."""
        target = self.path(name)
        if self.is_chief:
            with atomic_target(target) as tmp:
                tmp.write_text(text, encoding="utf-8")
        return target

    def write_json(self, name: str, data: Any) -> Path:
        """Write JSON atomically (sorted keys kept in insertion order, indented)."""
        return self.write_text(name, json.dumps(data, indent=2, allow_nan=True) + "\n")

    def save_weights(self, model: Any, name: str) -> Path:
        """Save a model's weights (`name` ends in `.weights.h5`) atomically; returns the final path."""
        target = self.path(name)
        if self.is_chief:
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".weights.", dir=target.parent))
            try:
                model.save_weights(scratch / target.name)
                os.replace(scratch / target.name, target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        return target

    def read_json(self, name: str) -> Any:
        """Read a JSON file of the run directory, or None when absent."""
        target = self.path(name)
        return json.loads(target.read_text()) if target.exists() else None
