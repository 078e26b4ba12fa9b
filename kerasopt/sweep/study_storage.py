"""The Optuna storage of a sweep: an RDB (SQLite or a server) whose trials beat a heartbeat.

A trial records a heartbeat every `heartbeat` seconds while its process runs it (Optuna's
heartbeat thread). A trial silent for `GRACE_BEATS` heartbeats (its process was killed,
its machine lost) is marked failed by the next process that looks at the study
(`optuna.storages.fail_stale_trials`, which `Study.optimize` calls before each trial),
and Optuna's retry callback queues the same params again as a waiting trial, which that
process runs next. The retry remembers the trial it repeats
(`system_attrs["failed_trial"]`), so the sweep runs it in the first trial's run
directory and resumes from its backup.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

HEARTBEAT_SECONDS = 10
"""How often a running trial records that its process is alive (default)."""
GRACE_BEATS = 3
"""Missed heartbeats after which a running trial counts as dead."""
MAX_RETRIES = 2
"""How many times a trial whose process died is run again (its own process may be the cause)."""
SCHEMA_ATTEMPTS = 5
"""Tries at opening a fresh database that other processes are creating Optuna's tables in."""


def grace_period(heartbeat: int) -> int:
    """Seconds without a heartbeat after which a running trial is failed and re-run.

    Example:
        >>> grace_period(10)
        30
    """
    return GRACE_BEATS * heartbeat


def open_storage(url: str, heartbeat: int = HEARTBEAT_SECONDS) -> Any:
    """An `optuna.storages.RDBStorage` of `url` with heartbeats and retries of dead trials.

    Sweeps started at the same instant against a new database all create Optuna's tables;
    on a server, all but one fail with a duplicate type or table (SQLite serializes them).
    Those try again, and find the tables made.

    Args:
        url: An SQLAlchemy URL (`sqlite:///...`, `postgresql://...`, `mysql://...`).
        heartbeat: Seconds between a running trial's heartbeats (a whole number >= 1).
            Defaults to `HEARTBEAT_SECONDS`.
    """
    import optuna

    sqlite = url.startswith("sqlite")
    engine = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    # Optuna 4.9 renamed the callback and its keyword; the old names warn from then on.
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    keyword = "heartbeat_stale_trial_callback"
    if retry is None:
        retry, keyword = optuna.storages.RetryFailedTrialCallback, "failed_trial_callback"
    import sqlalchemy.exc

    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                                                  grace_period=grace_period(heartbeat),
                                                  **{keyword: retry(max_retry=MAX_RETRIES)})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)  # another process is creating the tables
    raise AssertionError("unreachable")


def fail_dead_trials(study: Any) -> None:
    """Mark failed the running trials whose process stopped beating, and queue their retries."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def retry_of(trial: Any) -> int | None:
    """The number of the trial whose process died and that `trial` runs again (None if none).

    The same as Optuna's `RetryFailedTrialCallback.retried_trial_number`: the first trial of
    a series of retries. `trial` is a running `optuna.Trial` or a `FrozenTrial`.
    """
    frozen = trial
    if not hasattr(trial, "system_attrs"):  # a live Trial: its stored record holds them
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    number = frozen.system_attrs.get("failed_trial")
    return int(number) if number is not None else None
