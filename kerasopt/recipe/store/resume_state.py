"""`ResumeState`: what `--resume` continues from, kept in `checkpoints/progress.json`.

The file records the SHA-256 of the resolved recipe the run directory was started with,
the stages completed so far with their results, and the fit time and steps of those
stages. `--resume` with a recipe that resolves differently is refused (with a diff of the
two) unless forced, since the checkpoints belong to the recipe that wrote them. Settings
that change only how a run reports, not what it computes (`runtime.verbose`,
`runtime.backup_minutes`, `runtime.loggers`), are left out of the comparison.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from typing import Any

import yaml

from kerasopt.recipe.errors import RunFailed, RunRefused
from kerasopt.recipe.store.run_dir import RunDirectory

PROGRESS = "checkpoints/progress.json"
MAX_DIFF_LINES = 40


def recipe_body(resolved_yaml: str) -> str:
    """The resolved recipe without its `# Resolved from ...` header line (which names paths)."""
    first, _, rest = resolved_yaml.partition("\n")
    return rest if first.startswith("#") else resolved_yaml


REPORTING_ONLY = ("verbose", "backup_minutes", "loggers")
"""`runtime` settings that change how a run reports, never its results."""


def recipe_hash(resolved_yaml: str) -> str:
    """The SHA-256 (hex) of a resolved recipe's content, without the reporting-only settings.

    Example:
        >>> recipe_hash("# Resolved from a.yaml\\nname: x\\n") == recipe_hash("# Resolved from b.yaml\\nname: x\\n")
        True
        >>> recipe_hash("name: x\\nruntime: {verbose: 2}\\n") == recipe_hash("name: x\\nruntime: {verbose: 1}\\n")
        True
        >>> recipe_hash("name: x\\nruntime: {loggers: [{type: mlflow}]}\\n") == recipe_hash("name: x\\nruntime: {}\\n")
        True
    """
    try:
        content = yaml.safe_load(recipe_body(resolved_yaml))
    except yaml.YAMLError:  # not a recipe kerasopt wrote: compare the text
        content = None
    if not isinstance(content, dict):
        return hashlib.sha256(recipe_body(resolved_yaml).encode("utf-8")).hexdigest()
    runtime = content.get("runtime")
    if isinstance(runtime, dict):
        content["runtime"] = {k: v for k, v in runtime.items() if k not in REPORTING_ONLY}
    canonical = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResumeState:
    """The progress of a run, read back by `--resume` and written after every stage.

    Args:
        run_dir: The run directory.
        resolved_yaml: The resolved recipe of this run (:meth:`LoadedRecipe.resolved_yaml`).

    Attributes:
        recipe_sha256: The hash of this run's resolved recipe.
        completed: Names of the completed stages, in order.
        results: Their entries of `metrics.json`'s `stages`.
        fit_seconds: Their fit time in all.
        train_steps: Their optimizer steps in all.
        seeds: The model's seed generator states at the end of each completed stage (weight
            files do not hold them), so dropout after a resume draws as it would have.
        executions: Each started stage's execution plan (`steps_per_execution`,
            `jit_compile`, ...), so a stage resumed from its backup trains as it started.
        techniques: What techniques chose at a stage's start and need again to rebuild the
            same architecture on resume (low-rank factorization's ranks), by technique name.
    """

    def __init__(self, run_dir: RunDirectory, resolved_yaml: str) -> None:
        self.run_dir = run_dir
        self.resolved_yaml = resolved_yaml
        self.recipe_sha256 = recipe_hash(resolved_yaml)
        self.completed: list[str] = []
        self.results: list[dict[str, Any]] = []
        self.fit_seconds = 0.0
        self.train_steps = 0
        self.seeds: dict[str, list[list[Any]]] = {}
        self.executions: dict[str, dict[str, Any]] = {}
        self.techniques: dict[str, Any] = {}
        self._stored_hash: str | None = None

    def load(self) -> None:
        """Read `checkpoints/progress.json` if present.

        Raises:
            RunFailed: When the file is corrupt (the message names it).
        """
        advice = ("it records which stages have finished. Delete it to resume every stage from its "
                  "backup or its beginning, or start again with --overwrite.")
        try:
            progress = self.run_dir.read_json(PROGRESS)
        except ValueError as err:
            raise RunFailed(f"{err}; {advice}") from None
        if progress is None:
            return
        try:
            self._stored_hash = progress.get("recipe_sha256")
            self.completed = [str(name) for name in progress.get("completed", [])]
            self.results = [dict(result) for result in progress.get("results", [])]
            self.fit_seconds = float(progress.get("fit_seconds", 0.0))
            self.train_steps = int(progress.get("train_steps", 0))
            self.seeds = dict(progress.get("seed_generators", {}))
            self.executions = dict(progress.get("executions", {}))
            self.techniques.clear()  # the same dict the run's techniques hold
            self.techniques.update(progress.get("techniques", {}))
        except (AttributeError, TypeError, ValueError) as err:
            raise RunFailed(f"{self.run_dir.path(PROGRESS)} is corrupt (valid JSON, but not a progress "
                            f"record: {type(err).__name__}: {err}); {advice}") from None

    def check_recipe(self, *, force: bool) -> None:
        """Refuse to resume with a recipe other than the one the run directory was started with.

        The stored hash is compared (or, for a run directory without one, the stored
        `recipe.yaml`); with `force`, a changed recipe only prints a note.

        Raises:
            RunRefused: With a unified diff of the stored and the new resolved recipe.
        """
        stored_yaml = self._stored_recipe()
        stored_hash = self._stored_hash or (recipe_hash(stored_yaml) if stored_yaml is not None else None)
        if stored_hash is None or self.recipe_sha256 in (
                stored_hash, recipe_hash(stored_yaml) if stored_yaml is not None else None):
            return
        diff = _diff(stored_yaml, self.resolved_yaml, self.run_dir.path("recipe.yaml"))
        if force:
            print(f"kerasopt: note: resuming with a changed recipe (--force):\n{diff}", file=sys.stderr)
            return
        raise RunRefused(
            f"--resume: the recipe differs from the one {self.run_dir.root} was started with:\n{diff}\n"
            "Resume with the same recipe and overrides, add --force to continue with the changed "
            "recipe, or start again with --overwrite or another --output-dir.")

    def forget_from(self, stage: str) -> None:
        """Forget a completed stage and every stage after it (they are trained again)."""
        if stage in self.completed:
            index = self.completed.index(stage)
            self.completed = self.completed[:index]
            self.results = self.results[:index]

    def stage_done(self, result: dict[str, Any], seconds: float, steps: int,
                   seeds: list[list[Any]]) -> None:
        """Record a completed stage (with the model's seed generator states) and write the file."""
        self.seeds[result["name"]] = seeds
        self.completed.append(result["name"])
        self.results.append(result)
        self.fit_seconds += seconds
        self.train_steps += steps
        self.save()

    def record_execution(self, stage: str, plan: dict[str, Any]) -> None:
        """Record the execution plan a stage starts with, and write the file."""
        self.executions[stage] = plan
        self.save()

    def save(self) -> None:
        """Write `checkpoints/progress.json` (atomically)."""
        self.run_dir.write_json(PROGRESS, {
            "recipe_sha256": self.recipe_sha256, "completed": self.completed,
            "results": self.results, "fit_seconds": self.fit_seconds,
            "train_steps": self.train_steps, "seed_generators": self.seeds,
            "executions": self.executions, "techniques": self.techniques})

    def _stored_recipe(self) -> str | None:
        try:
            return self.run_dir.path("recipe.yaml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


def _diff(old: str | None, new: str, old_path: Any) -> str:
    """A unified diff of two resolved recipes (bodies only), at most MAX_DIFF_LINES lines."""
    if old is None:
        return f"({old_path} is missing; only the stored hash differs)"
    lines = list(difflib.unified_diff(
        recipe_body(old).splitlines(), recipe_body(new).splitlines(),
        fromfile=f"{old_path} (stored)", tofile="the recipe now", n=1, lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more diff lines)"]
    return "\n".join(lines) if lines else "(the stored hash differs; the recipe text is the same)"
