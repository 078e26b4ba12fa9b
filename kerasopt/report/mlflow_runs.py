"""`kerasopt compare --mlflow URI --experiment NAME`: the kerasopt runs of an MLflow experiment, read
back from the `metrics.json` artifact each run uploaded (see docs/tracking.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


class MlflowSourceError(ValueError):
    """The MLflow store cannot be read, or holds no comparable run (the message says which)."""


def download_runs(uri: str, experiment: str, folder: Path) -> list[Path]:
    """Download the `metrics.json` of each finished kerasopt run of `experiment` into `folder`.

    Runs that did not finish, or logged no files (`artifacts: false`), are skipped with a
    note on stderr. Each run gets a folder named after the MLflow run (`trial_3`), with the
    first characters of its id when two runs share a name.

    Args:
        uri: The tracking URI.
        experiment: The experiment's name.
        folder: Where the run folders go.

    Returns:
        The run folders, oldest run first, each holding `metrics.json`.

    Raises:
        MlflowSourceError: MLflow is missing, the experiment does not exist, or it holds
            no finished kerasopt run.
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MlflowSourceError("--mlflow needs the mlflow package, not installed: "
                                "pip install 'kerasopt[mlflow]'") from None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one line per run otherwise
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise MlflowSourceError(f"--experiment {experiment!r}: no such experiment at {uri}; "
                                f"there: {', '.join(names) or 'none'}")
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])
    folders, skipped = [], []
    names = [r.info.run_name for r in runs]
    for found_run in runs:
        info = found_run.info
        has_file = any(a.path == "metrics.json" for a in client.list_artifacts(info.run_id))
        if info.status != "FINISHED" or not has_file:
            skipped.append(f"{info.run_name} ({info.status.lower() if info.status != 'FINISHED' else 'no metrics.json'})")
            continue
        name = info.run_name if names.count(info.run_name) == 1 else f"{info.run_name}-{info.run_id[:8]}"
        target = folder / name
        target.mkdir(parents=True)
        client.download_artifacts(info.run_id, "metrics.json", str(target))
        folders.append(target)
    if skipped:
        print(f"kerasopt compare: skipped runs without a final metrics.json: {', '.join(skipped)}", file=sys.stderr)
    if not folders:
        raise MlflowSourceError(f"experiment {experiment!r} at {uri} holds no finished kerasopt run "
                                "with a metrics.json artifact")
    return folders
