"""Optuna's log of failed trials without tracebacks: the sweep says itself why each trial failed.

Optuna logs a trial whose objective raised as two warnings, the first with the exception's
traceback (`optuna.study._optimize._log_failed_trial`). A trial whose run failed cleanly
(:class:`~kerasopt.sweep.trial_objective.TrialFailed`: a diverged loss, an export that failed
its gate) already has its one line, `trial N: failed: <reason>`, from the sweep; Optuna's
two records of it are dropped. Any other failure keeps Optuna's line, without the traceback.
`kerasopt sweep --debug` leaves Optuna's log as it is.
"""

from __future__ import annotations

import logging

from kerasopt.sweep.trial_objective import TrialFailed

OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"
"""The logger Optuna reports finished trials through."""


class ReportedFailures(logging.Filter):
    """Drops Optuna's records of :class:`TrialFailed` trials; strips the traceback from the others."""

    def __init__(self) -> None:
        super().__init__()
        self.reported: set[str] = set()  # "Trial N " prefixes of the failures dropped

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if isinstance(error, TrialFailed):
            self.reported.add(message.split(" failed ", 1)[0])
            return False
        head, failed, rest = message.partition(" failed with value ")
        if failed and head in self.reported:  # the second record of a failure dropped above
            self.reported.discard(head)
            return False
        record.exc_info, record.exc_text = None, None
        return True


def quiet_failed_trials(quiet: bool = True) -> None:
    """Install (or, with `quiet` false, remove) :class:`ReportedFailures` on Optuna's trial logger."""
    logger = logging.getLogger(OPTUNA_TRIAL_LOGGER)
    for installed in [f for f in logger.filters if isinstance(f, ReportedFailures)]:
        logger.removeFilter(installed)
    if quiet:
        logger.addFilter(ReportedFailures())
