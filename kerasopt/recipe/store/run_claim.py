"""`claim_run`: take a run directory for one run, before TensorFlow starts.

Everything that can refuse a run because of its directory happens here, reading files
only: the output folder is a folder, no other process holds its lock, it is empty or a
kerasopt run that may be resumed or replaced as asked, and a resumed run's recipe is
the one the directory was started with. `kerasopt run` claims first and imports
TensorFlow after, so a busy or finished directory is refused in well under a second.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasopt.recipe.errors import RunRefused
from kerasopt.recipe.store.resume_state import ResumeState
from kerasopt.recipe.store.run_dir import RunDirectory


@dataclasses.dataclass
class ClaimedRun:
    """A run directory held for one run, with what `--resume` continues from.

    Attributes:
        run_dir: The run directory (locked by this process when it is the chief).
        state: The resume state (read from the directory when resuming).
        resume: Whether the run continues the directory's run.
    """

    run_dir: RunDirectory
    state: ResumeState
    resume: bool


@contextlib.contextmanager
def claim_run(loaded: Any, *, output_dir: str | None = None, resume: bool = False,
              overwrite: bool = False, force: bool = False) -> Iterator[ClaimedRun]:
    """Hold the run directory of `loaded` for the block (see :meth:`RunDirectory.claimed`).

    Args:
        loaded: The recipe (:class:`~kerasopt.recipe.check.loader.LoadedRecipe`).
        output_dir: The run directory. Defaults to `saved_models/<recipe name>/`.
        resume: Continue the directory's run. Defaults to `False`.
        overwrite: Replace the directory's run. Defaults to `False`.
        force: With `resume`, accept a recipe other than the one the directory was started
            with. Defaults to `False`.

    Raises:
        RunRefused: The directory may not be used as asked; nothing was written.
        RunFailed: `checkpoints/progress.json` of the run to resume is corrupt.
        ClusterConfigError: `runtime.strategy: multi_worker` without a cluster.
    """
    with _claimed(loaded, output_dir, resume, overwrite, force, is_chief=_is_chief(loaded.recipe)) as claimed:
        yield claimed


def check_claim(loaded: Any, *, output_dir: str | None = None, resume: bool = False,
                overwrite: bool = False, force: bool = False) -> None:
    """Refuse now what the chief's :func:`claim_run` would refuse, and leave the directory as it was.

    `run --workers N` checks this before it starts any worker, so a busy, foreign or
    finished directory is refused in under a second instead of after N TensorFlow starts.

    Raises:
        RunRefused: The directory may not be used as asked; nothing was written.
        RunFailed: `checkpoints/progress.json` of the run to resume is corrupt.
    """
    with _claimed(loaded, output_dir, resume, overwrite, force, is_chief=True):
        pass


@contextlib.contextmanager
def _claimed(loaded: Any, output_dir: str | None, resume: bool, overwrite: bool, force: bool, *,
             is_chief: bool) -> Iterator[ClaimedRun]:
    if force and not resume:
        raise RunRefused("--force only applies with --resume (it accepts a changed recipe).")
    recipe = loaded.recipe
    run_dir = RunDirectory(output_dir or Path("saved_models") / recipe.name, is_chief=is_chief, recipe=recipe.name)
    state = ResumeState(run_dir, loaded.resolved_yaml())
    with run_dir.claimed(resume=resume, overwrite=overwrite):
        if resume:
            state.load()
            state.check_recipe(force=force)
        yield ClaimedRun(run_dir, state, resume)


def _is_chief(recipe: Any) -> bool:
    """Whether this process writes the run directory (ClusterConfigError without a cluster).

    Multi-worker runs: only the chief (worker 0) takes the lock and writes; the other
    workers train in lockstep and write nothing (see :mod:`kerasopt.distribute.cluster`).
    """
    if recipe.runtime.strategy != "multi_worker":
        return True
    from kerasopt.distribute.cluster import worker_role

    return worker_role().is_chief
