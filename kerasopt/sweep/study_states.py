"""What a sweep's study holds: the trials that count, those still to finish, and why the rest do not count.

Only complete trials count towards a sweep's `trials`. A failed trial says why in one
line: the error its run stopped with (`user_attrs["error"]`), an interruption
(`user_attrs["interrupted"]`), or, with neither, a process that stopped beating its
heartbeat (killed) and the retry that runs it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from kerasopt.sweep.study_storage import MAX_RETRIES

MAX_LISTED = 20
"""Trials listed by name in a summary; the rest are counted."""


@dataclasses.dataclass(frozen=True)
class Tally:
    """The trials of a study, by what they mean for the sweep.

    Attributes:
        complete: Complete trials (those that count).
        running: Numbers of the running trials (in this or another process).
        waiting: Queued trials no process has taken yet (retries, grid points).
        errors: Trials failed with an error of their run (not interrupted, not killed).
    """

    complete: int
    running: tuple[int, ...]
    waiting: int
    errors: int


def tally(trials: Sequence[Any]) -> Tally:
    """Count a study's trials (`study.get_trials(deepcopy=False)`)."""
    from optuna.trial import TrialState

    return Tally(complete=sum(t.state == TrialState.COMPLETE for t in trials),
                 running=tuple(t.number for t in trials if t.state == TrialState.RUNNING),
                 waiting=sum(t.state == TrialState.WAITING for t in trials),
                 errors=sum(t.state == TrialState.FAIL and "error" in t.user_attrs for t in trials))


def why_not_counted(trial: Any, retried_as: dict[int, int]) -> str | None:
    """One line on why a failed or pruned trial does not count; None for other trials.

    Args:
        trial: An Optuna `FrozenTrial`.
        retried_as: Trial number -> the number of the trial that runs it again.
    """
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    if trial.state == TrialState.PRUNED:
        epoch = attrs.get("pruned_at_epoch")
        return "pruned" + (f" after epoch {epoch}" if epoch is not None else "")
    if trial.state != TrialState.FAIL:
        return None
    if "error" in attrs:
        return f"failed: {attrs['error']}"
    if attrs.get("interrupted"):
        return "interrupted (Ctrl-C or SIGTERM); not counted"
    again = (f"run again as trial {retried_as[trial.number]}" if trial.number in retried_as
             else f"not run again (a trial is retried at most {MAX_RETRIES} times)")
    return f"failed: its process stopped (no heartbeat: killed, or its machine lost); {again}"


def summary_lines(trials: Sequence[Any]) -> list[str]:
    """`trial N <why>` for each failed or pruned trial (at most `MAX_LISTED`, then a count)."""
    retried_as = {t.system_attrs["retry_history"][-1]: t.number for t in trials
                  if t.system_attrs.get("retry_history")}
    lines = [f"trial {t.number} {why}" for t in trials
             if (why := why_not_counted(t, retried_as)) is not None]
    if len(lines) > MAX_LISTED:
        lines = [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more (see each trial_<N>/trial.json)"]
    return lines
