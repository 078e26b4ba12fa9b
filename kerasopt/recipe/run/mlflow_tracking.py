"""`runtime.loggers: [{type: mlflow}]`: one MLflow run per kerasopt run, kept by `--resume`.

What is logged: the resolved recipe as parameters (flattened `a.b.c` keys, values cut to
500 characters, which every MLflow server accepts) and as the artifact `recipe.yaml`;
every epoch's logs (`loss`, `val_accuracy`, `learning_rate`...) with `step` = the run's
epoch (stages continue one curve, as in TensorBoard) and the stage's name in the tag
`kerasopt.stage.<n>`; each stage's evaluation as `stages.<name>.<split>.<metric>`; the
final evaluation as `evaluation.<split>.<metric>`; `metrics.json` and the exported files
as artifacts. The run ends FINISHED, FAILED (a failed run, a diverged loss, a recipe
problem found while building) or KILLED (Ctrl-C, SIGTERM), as kerasopt's exit code says.

Failures: a tracking server that does not answer when the run starts fails the run at once
(exit 1, nothing trained). One that stops answering later does not stop training: the
first failure prints one warning, the metrics not logged are kept and sent again at each
epoch end and when the run ends, and what could still not be sent is listed in
metrics.json (`tracking[i].unlogged`, beside the run id). MLflow's HTTP retries are shortened for this
(`MLFLOW_HTTP_REQUEST_MAX_RETRIES=2`, `..._TIMEOUT=10`, unless set in the environment).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import keras

from kerasopt.recipe.errors import RunFailed
from kerasopt.recipe.format.schema_loggers import default_tracking_uri
from kerasopt.recipe.run.tensorboard_logging import flatten

STATE_FILE = "checkpoints/mlflow.json"
MAX_VALUE = 500  # MLflow servers before 2.x stored 500 characters per parameter value
MAX_KEY = 250
BATCH = 100  # parameters per log_batch call (MLflow's limit)
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def absolute_uri(uri: str) -> str:
    """`uri` with a relative local path made absolute, so that `--resume` from another folder
    finds the same store.

    Example:
        >>> absolute_uri("http://host:5000")
        'http://host:5000'
        >>> absolute_uri("sqlite:////tmp/a.db")
        'sqlite:////tmp/a.db'
    """
    if uri.startswith("sqlite:///"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    parsed = urlparse(uri)
    if not parsed.scheme or len(parsed.scheme) == 1:
        return Path(uri).resolve().as_uri()
    if parsed.scheme == "file":
        return Path(parsed.path).resolve().as_uri()
    return uri


def parameters(resolved: dict[str, Any]) -> dict[str, str]:
    """The resolved recipe as MLflow parameters: flattened keys, values of at most 500 characters.

    Example:
        >>> parameters({"training": {"epochs": 3}, "description": "x" * 600})["description"][-5:]
        'x...'
        >>> parameters({"training": {"epochs": 3}})["training.epochs"]
        '3'
    """
    out = {}
    for key, value in flatten(resolved).items():
        text = str(value)
        out[key[:MAX_KEY]] = text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 3] + "..."
    return out


class MlflowTracker:
    """The MLflow run of one kerasopt run (the chief's process only).

    Args:
        options: The recipe's `runtime.loggers[i]` entry.
        index: Its position `i` (messages name `runtime.loggers[i]`).
        recipe_name: The recipe's name (the default experiment).
        run_dir: The run directory.
        parent_run_id: The MLflow run this one is a child of (a sweep's), or None; a
            child run goes into its parent's experiment. Defaults to `None`.
    """

    def __init__(self, options: Any, index: int, recipe_name: str, run_dir: Any,
                 parent_run_id: str | None = None) -> None:
        self.options = options
        self.where = f"runtime.loggers[{index}]"
        self.index = index
        self.run_dir = run_dir
        self.parent_run_id = parent_run_id
        self.uri = absolute_uri(options.tracking_uri or default_tracking_uri())
        self.experiment = options.experiment or recipe_name
        self.client: Any = None
        self.run_id: str | None = None
        self.epoch_offset = 0
        self.logged_through = -1  # the last epoch step already in MLflow (after a resume)
        self.unlogged: list[Any] = []
        self._warned = False

    def connect(self) -> None:
        """Open the store and find or create the experiment; nothing is trained before this.

        Raises:
            RunFailed: The tracking server does not answer, or the store refuses.
        """
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        if urlparse(self.uri).scheme in ("http", "https"):
            self._probe()
        from mlflow.tracking import MlflowClient

        try:
            self.client = MlflowClient(tracking_uri=self.uri)
            if self.parent_run_id is not None:  # a child run lives in its parent's experiment
                self.experiment_id = self.client.get_run(self.parent_run_id).info.experiment_id
                self.experiment = self.client.get_experiment(self.experiment_id).name
                return
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                self.experiment_id = self.client.create_experiment(self.experiment, **self._artifact_location())
            else:
                self.experiment_id = found.experiment_id
        except Exception as err:  # noqa: BLE001 - MLflow raises MlflowException, requests and SQLAlchemy errors
            raise RunFailed(f"{self.where}: MLflow at {self.uri} refused experiment {self.experiment!r}: "
                            f"{type(err).__name__}: {str(err).splitlines()[0]}") from None

    def _probe(self) -> None:
        url = self.uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=5.0) as answer:  # noqa: S310 - an http(s) URI, checked above
                answer.read()
        except urllib.error.HTTPError:
            return  # it answers (a proxy's or a login's status): MLflow's own requests say more
        except OSError as err:
            reason = getattr(err, "reason", err)
            raise RunFailed(
                f"{self.where}.tracking_uri: the MLflow tracking server at {self.uri} does not answer "
                f"({reason}); start it (mlflow server --host 127.0.0.1 --port 5000), correct the URI, or "
                "remove the logger; nothing was trained.") from None

    def _artifact_location(self) -> dict[str, str]:
        """A new experiment of a local database keeps its artifacts beside the database file."""
        if self.uri.startswith("sqlite:///"):
            folder = Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts"
            return {"artifact_location": folder.as_uri()}
        return {}

    def start(self, resolved: dict[str, Any], recipe_yaml: str, resume: bool) -> None:
        """Create the MLflow run (or, on `--resume`, reopen the one this run directory started)
        and log the recipe as parameters and as `recipe.yaml`."""
        previous = self._stored() if resume else None
        if previous is not None:
            self.run_id = previous
            self.client.update_run(self.run_id, status="RUNNING")
            history = self.client.get_metric_history(self.run_id, "loss")
            self.logged_through = max((m.step for m in history), default=-1)
            return
        tags = {"kerasopt.run_dir": str(self.run_dir.root.resolve()), **self.options.tags}
        if self.parent_run_id is not None:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, tags=tags,
                                     run_name=self.options.run_name or self.run_dir.root.resolve().name)
        self.run_id = run.info.run_id
        self._save_state()
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in parameters(resolved).items()]
        for start in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[start:start + BATCH])
        if self.options.artifacts:
            self.client.log_text(self.run_id, recipe_yaml, "recipe.yaml")

    def _stored(self) -> str | None:
        state = self.run_dir.read_json(STATE_FILE) or {}
        entry = (state.get("runs") or {}).get(str(self.index)) or {}
        if entry.get("tracking_uri") != self.uri or not entry.get("run_id"):
            return None
        return str(entry["run_id"])

    def _save_state(self) -> None:
        state = self.run_dir.read_json(STATE_FILE) or {}
        runs = dict(state.get("runs") or {})
        runs[str(self.index)] = {"tracking_uri": self.uri, "experiment_id": self.experiment_id,
                                 "run_id": self.run_id}
        self.run_dir.write_json(STATE_FILE, {"runs": runs})

    def begin_stage(self, name: str, epoch_offset: int) -> None:
        """A stage starts; its epochs are logged from step `epoch_offset`."""
        self.epoch_offset = epoch_offset
        self._log([], tags={f"kerasopt.stage.{epoch_offset}": name})

    def log_epoch(self, epoch: int, logs: dict[str, Any]) -> None:
        """Log one epoch's numbers at step `epoch_offset + epoch` (epochs already logged before a resume are skipped)."""
        step = self.epoch_offset + epoch
        if step <= self.logged_through:
            return
        self._log(self._metrics(logs, step))

    def log_results(self, values: dict[str, Any], prefix: str, step: int) -> None:
        """Log nested results (`{"test": {"accuracy": ...}}`) as `<prefix>.test.accuracy` at `step`."""
        self._log(self._metrics(flatten(values, f"{prefix}."), step))

    def _metrics(self, values: dict[str, Any], step: int) -> list[Any]:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        return [Metric(key[:MAX_KEY], float(value), now, step) for key, value in values.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)]

    def _log(self, metrics: list[Any], tags: dict[str, str] | None = None) -> None:
        """Log, keeping what fails to send for the next call (one warning per outage)."""
        from mlflow.entities import RunTag

        pending = self.unlogged + metrics
        try:
            for start in range(0, len(pending), 1000):
                self.client.log_batch(self.run_id, metrics=pending[start:start + 1000],
                                      tags=[RunTag(k, v) for k, v in (tags or {}).items()] if start == 0 else [])
            if not pending and tags:
                self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        except Exception as err:  # noqa: BLE001 - any failure of the store must not stop training
            self.unlogged = pending
            if not self._warned:
                print(f"kerasopt: warning: {self.where}: MLflow at {self.uri} failed ({type(err).__name__}: "
                      f"{str(err).splitlines()[0] if str(err) else ''}); training goes on, and what was not "
                      "logged is sent again at each epoch end.", file=sys.stderr)
                self._warned = True
            return
        if self._warned:
            print(f"kerasopt: note: {self.where}: MLflow answers again; the metrics kept were logged.",
                  file=sys.stderr)
            self._warned = False
        self.unlogged = []

    def finish(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Log the final evaluation, metrics.json and the exports; return the `tracking` entry of metrics.json."""
        step = sum(int(s.get("epochs", 0)) for s in metrics.get("stages", []))
        self.log_results(metrics.get("evaluation") or {}, "evaluation", step)
        entry = {"tracking_uri": self.uri, "experiment": self.experiment, "run_id": self.run_id}
        if self.unlogged:
            entry["unlogged"] = len(self.unlogged)
        if self.options.artifacts:
            try:
                for export in (metrics.get("exports") or {}).values():
                    path = self.run_dir.path(export["path"])
                    if path.is_dir():
                        self.client.log_artifacts(self.run_id, str(path), path.name)
                    elif path.is_file():
                        self.client.log_artifact(self.run_id, str(path))
            except Exception as err:  # noqa: BLE001 - the run directory keeps every file
                entry["artifacts_error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                print(f"kerasopt: warning: {self.where}: the exported files were not uploaded to MLflow "
                      f"({entry['artifacts_error']}); they are in {self.run_dir.root}.", file=sys.stderr)
        return entry

    def upload_metrics_file(self) -> None:
        """Upload metrics.json (the final one) as an artifact."""
        if self.options.artifacts:
            self._quietly(lambda: self.client.log_artifact(self.run_id, str(self.run_dir.path("metrics.json"))))

    def end(self, status: str) -> None:
        """Set the run's status: FINISHED, FAILED or KILLED."""
        if self.run_id is not None:
            self._quietly(lambda: self.client.set_terminated(self.run_id, status))

    def _quietly(self, action: Any) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 - reporting only; the run directory has it all
            print(f"kerasopt: warning: {self.where}: MLflow at {self.uri} failed ({type(err).__name__}); "
                  f"the run directory {self.run_dir.root} has the results.", file=sys.stderr)


class MlflowEpochLogger(keras.callbacks.Callback):
    """Send each epoch's logs to the trackers (a callback of every stage's `fit`).

    Args:
        trackers: The run's :class:`MlflowTracker` objects.
    """

    async_safe = True

    def __init__(self, trackers: list[MlflowTracker]) -> None:
        super().__init__()
        self.trackers = trackers

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for tracker in self.trackers:
            tracker.log_epoch(epoch, logs or {})


def open_trackers(recipe: Any, run_dir: Any, parents: Any = None) -> list[MlflowTracker]:
    """Connect one tracker per `runtime.loggers` entry (none on a non-chief worker).

    Args:
        recipe: The validated recipe.
        run_dir: The run directory.
        parents: Per logger, the parent MLflow run id (a sweep's), or None. Defaults to `None`.
    """
    if not run_dir.is_chief:
        return []
    parents = list(parents or [])
    trackers = []
    for index, options in enumerate(recipe.runtime.loggers):
        parent = parents[index] if index < len(parents) else None
        tracker = MlflowTracker(options, index, recipe.name, run_dir, parent_run_id=parent)
        tracker.connect()
        trackers.append(tracker)
    return trackers


def exit_status(error: BaseException | None) -> str:
    """The MLflow status for how the run ended: None -> FINISHED, an interruption -> KILLED, else FAILED.

    Example:
        >>> exit_status(None), exit_status(KeyboardInterrupt()), exit_status(RunFailed("diverged"))
        ('FINISHED', 'KILLED', 'FAILED')
    """
    if error is None:
        return "FINISHED"
    return "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
