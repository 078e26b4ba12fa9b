"""What a report reads from one run directory: metrics.json, a sweep's trial.json, TensorBoard logs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class NotARunError(ValueError):
    """Directories that are not run directories (no readable metrics.json); names each one."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        lines = [f"  {path}: {reason}" for path, reason in self.problems]
        super().__init__("not a run directory (a run directory holds the metrics.json "
                         "that `kerasopt run` writes):\n" + "\n".join(lines))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None


class RunRecord:
    """One run directory, read for comparison.

    Args:
        path: The run directory (holds `metrics.json`; a sweep trial also `trial.json`).
        metrics: Its parsed metrics.json.
        trial: Its parsed trial.json, or None. Defaults to `None`.
    """

    def __init__(self, path: Path, metrics: dict[str, Any], trial: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.metrics = metrics
        self.trial = trial

    @classmethod
    def load_all(cls, paths: Sequence[str | Path]) -> list[RunRecord]:
        """Read every directory; raise one :class:`NotARunError` naming all that are not runs."""
        records, problems = [], []
        for raw in paths:
            path = Path(raw)
            metrics_file = path / "metrics.json"
            if not path.is_dir():
                problems.append((str(raw), "no such directory"))
                continue
            if not metrics_file.is_file():
                problems.append((str(raw), "no metrics.json"))
                continue
            try:
                metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                problems.append((str(raw), f"metrics.json is not readable JSON ({err})"))
                continue
            trial_file = path / "trial.json"
            trial = json.loads(trial_file.read_text(encoding="utf-8")) if trial_file.is_file() else None
            records.append(cls(path, metrics, trial))
        if problems:
            raise NotARunError(problems)
        return records

    @property
    def name(self) -> str:
        """The run's folder name (`trial_3`)."""
        return self.path.resolve().name

    @property
    def params(self) -> dict[str, Any]:
        """A sweep trial's params (empty for a plain run)."""
        return dict((self.trial or {}).get("params") or {})

    def evaluation(self, split: str, metric: str) -> float | None:
        """The final `evaluation.<split>.<metric>` (of the exported weights), or None."""
        return _number(((self.metrics.get("evaluation") or {}).get(split) or {}).get(metric))

    def history(self) -> dict[str, list[float]]:
        """Per-epoch logs of every stage, concatenated (NaN where a stage lacks a key)."""
        stages = self.metrics.get("stages") or []
        keys = list(dict.fromkeys(k for s in stages for k in (s.get("history") or {})))
        out: dict[str, list[float]] = {k: [] for k in keys}
        for stage in stages:
            history = stage.get("history") or {}
            length = max((len(v) for v in history.values()), default=0)
            for key in keys:
                values = [_number(v) for v in history.get(key, [])]
                values += [None] * (length - len(values))
                out[key] += [math.nan if v is None else v for v in values]
        return out

    def best(self, log: str, lower_is_better: bool) -> float | None:
        """The best per-epoch value of a log (`val_accuracy`) over all stages, or None."""
        values = [v for v in self.history().get(log, []) if not math.isnan(v)]
        if not values:
            return None
        return min(values) if lower_is_better else max(values)

    def step_time(self) -> float | None:
        """Seconds per training step: `timing.fit_seconds / timing.train_steps`."""
        timing = self.metrics.get("timing") or {}
        seconds, steps = _number(timing.get("fit_seconds")), _number(timing.get("train_steps"))
        return seconds / steps if seconds is not None and steps else None

    def export(self, name: str, key: str) -> float | None:
        """A number of an export (`export("tflite", "gzip_bytes")`), or None."""
        return _number(((self.metrics.get("exports") or {}).get(name) or {}).get(key))

    def epoch_end_steps(self) -> list[float]:
        """The optimizer step at the end of each epoch, across stages."""
        ends: list[float] = []
        for stage in self.metrics.get("stages") or []:
            epochs, steps = stage.get("epochs") or 0, stage.get("steps") or 0
            start = ends[-1] if ends else 0.0
            ends += [start + steps * (i + 1) / epochs for i in range(epochs)]
        return ends

    def learning_rate(self) -> tuple[list[float], list[float]]:
        """(steps, learning rates) of `epoch_learning_rate` in `logs/train`, or two empty lists."""
        train_logs = self.path / "logs" / "train"
        if not train_logs.is_dir():
            return [], []
        from kerasopt.tf_startup import start_tensorflow_quietly

        start_tensorflow_quietly()  # TensorBoard's reader loads TensorFlow: without its CUDA lines
        from tensorboard.backend.event_processing import event_accumulator
        from tensorboard.util import tensor_util

        accumulator = event_accumulator.EventAccumulator(
            str(train_logs), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
        accumulator.Reload()
        tags = accumulator.Tags()
        if "epoch_learning_rate" in tags.get("tensors", []):
            events = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                      for e in accumulator.Tensors("epoch_learning_rate")]
        elif "epoch_learning_rate" in tags.get("scalars", []):
            events = [(e.step, e.value) for e in accumulator.Scalars("epoch_learning_rate")]
        else:
            return [], []
        by_epoch = dict(sorted(events))  # a resumed run may log an epoch twice: the later wins
        ends = self.epoch_end_steps()
        steps = [ends[e] if e < len(ends) else float(e) for e in by_epoch]
        return steps, list(by_epoch.values())
