"""`StageBackup`: back up an unfinished stage at epoch ends, atomically, keeping the previous backup.

A backup is everything a resumed `fit` needs to continue as if it had not stopped: the
model's and optimizer's weights (one `.weights.h5` file), the Keras seed generators'
states (dropout), the stage's history, fit time and steps so far, and the best-epoch
keeper's state. The data order needs nothing: the training pipeline's order and
augmentation depend only on the seed and the epoch number (see `DataEpoch`).

Files, in `checkpoints/backup_<stage>/`: `backup.json` names the newest backup and its
weights file (`epoch_<n>.weights.h5`); `backup.prev.json` names the one before. Each file
is written under a temporary name and renamed; a weights file is deleted only once no
JSON names it. A backup that cannot be read is reported by name and the previous one used;
the next backup then replaces the unreadable one and keeps the readable one as the
previous: an unreadable backup is never rotated over a readable one.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt.atomic import atomic_target
from kerasopt.recipe.errors import RunFailed

CURRENT, PREVIOUS, NEXT = "backup.json", "backup.prev.json", "backup.next.json"


class StageBackup(keras.callbacks.Callback):
    """Back up a stage every `every_epochs` epochs, and at least every `every_seconds`.

    Call :meth:`resume` after `compile` and before `fit`: it restores the newest readable
    backup and returns the epoch to pass as `fit(initial_epoch=...)`. Backups are taken at
    epoch ends only, so a resumed `fit` starts at an epoch boundary. The backup folder
    stays when `fit` ends: the runner deletes it once the stage's weights are saved.

    Args:
        run_dir: The :class:`~kerasopt.recipe.store.run_dir.RunDirectory`.
        folder: The backup folder, relative to the run directory (`checkpoints/backup_train`).
        every_epochs: Back up after every this many epochs (>= 1). Defaults to `1`.
        every_seconds: Also back up at the first epoch end this long after the last
            backup (> 0). Defaults to `600.0`.
        step_limit: The stage's `StepLimit`, told the steps done before a resume. Defaults to `None`.
    """

    def __init__(self, run_dir: Any, folder: str, every_epochs: int = 1,
                 every_seconds: float = 600.0, step_limit: Any = None) -> None:
        super().__init__()
        if isinstance(every_epochs, bool) or not isinstance(every_epochs, int) or every_epochs < 1:
            raise ValueError(f"`every_epochs` must be an integer >= 1. Received: every_epochs={every_epochs!r}")
        if not every_seconds > 0:
            raise ValueError(f"`every_seconds` must be > 0. Received: every_seconds={every_seconds!r}")
        self.run_dir = run_dir
        self.folder = folder
        self.every_epochs = every_epochs
        self.every_seconds = float(every_seconds)
        self.step_limit = step_limit
        self.keeper: Any = None
        self.stateful: list[Any] = []
        self.history: dict[str, list[float]] = {}
        self.seconds_before = 0.0
        self.epochs_before = 0
        self._keeper_state: dict[str, Any] | None = None
        self._first_iteration = 0
        self._current_readable = True  # False after resuming past an unreadable backup.json
        self._started = time.perf_counter()
        self._last_save = time.monotonic()

    @property
    def directory(self) -> Path:
        return self.run_dir.path(self.folder)

    def resume(self, keeper: Any = None, stateful: Any = ()) -> int:
        """Restore the newest readable backup, if any; returns the epoch `fit` starts at.

        Args:
            keeper: The stage's `BestWeights`, whose state is backed up too. Defaults to `None`.
            stateful: Callbacks with `state_dict()`/`load_state_dict()` (kerasopt's
                EarlyStopping, DivergenceRecovery, ...), whose state is backed up and restored
                too, in this order. Defaults to `()`.

        Raises:
            RunFailed: When backups exist but none can be read (the message names each file).
        """
        self.keeper = keeper
        self.stateful = list(stateful)
        self._first_iteration = int(self.model.optimizer.iterations.numpy())
        self._started, self._last_save = time.perf_counter(), time.monotonic()
        problems: list[str] = []
        self._current_readable = True
        for name in (CURRENT, PREVIOUS):
            if not (self.directory / name).exists():
                continue
            try:
                meta = self._restore(name)
            except Exception as err:  # noqa: BLE001 - any failure to read means this backup is unusable
                if name == CURRENT:
                    self._current_readable = False
                problems.append(str(err) if isinstance(err, CorruptBackup) else
                                f"{self.directory / name} is unusable ({_brief(err)})")
                continue
            if problems:
                print(f"kerasopt: note: {problems[0]}; resuming from the previous backup "
                      f"{self.directory / name} (after epoch {meta['epoch']}), which the next "
                      "backup keeps as the previous one.", file=sys.stderr)
            return self.epochs_before
        if problems:
            raise RunFailed(
                "no readable backup to resume from: " + "; ".join(problems) + ". Delete "
                f"{self.directory} to train this stage again from its beginning with --resume.")
        return 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.keeper is not None and self._keeper_state is not None:
            self.keeper.set_state(self._keeper_state)  # after the keeper's own reset

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        due = (epoch + 1) % self.every_epochs == 0
        if due or time.monotonic() - self._last_save >= self.every_seconds:
            self.save(epoch + 1)

    @property
    def seconds(self) -> float:
        """The stage's fit time so far, before and after any interruption."""
        return self.seconds_before + time.perf_counter() - self._started

    def save(self, epoch: int) -> None:
        """Write a backup of the state after `epoch` epochs of the stage, keeping the previous one.

        Only the chief of a multi-worker run writes (the other workers read the backups on resume).

        Raises:
            NoSpaceError: When the disk fills up; the backups written before are kept.
        """
        if not self.run_dir.is_chief:
            return
        stem = f"epoch_{epoch}"
        self.run_dir.save_weights(self.model, f"{self.folder}/{stem}.weights.h5")
        meta: dict[str, Any] = {
            "epoch": epoch, "weights": f"{stem}.weights.h5",
            "steps": int(self.model.optimizer.iterations.numpy()) - self._first_iteration,
            "seconds": self.seconds, "history": self.history,
            "seed_generators": seed_states(self.model), "replicas": _replicas(self.model),
            "saved": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        if self.keeper is not None:
            state = self.keeper.get_state()
            meta["keeper"] = {k: state[k] for k in ("best", "best_epoch", "last_epoch")}
            if state["weights"] is not None:
                with atomic_target(self.directory / f"{stem}.best.npz") as tmp, open(tmp, "wb") as handle:
                    np.savez(handle, *state["weights"])
                meta["keeper"]["weights"] = f"{stem}.best.npz"
        meta["callbacks"] = [self._callback_state(index, callback, stem)
                             for index, callback in enumerate(self.stateful)]
        self.run_dir.write_json(f"{self.folder}/{NEXT}", meta)
        if self._current_readable and (self.directory / CURRENT).exists():
            os.replace(self.directory / CURRENT, self.directory / PREVIOUS)
        os.replace(self.directory / NEXT, self.directory / CURRENT)  # over an unreadable one, if any
        self._current_readable = True
        self._last_save = time.monotonic()
        self._delete_unnamed()

    def _restore(self, name: str) -> dict[str, Any]:
        try:
            meta = self.run_dir.read_json(f"{self.folder}/{name}")
        except ValueError as err:
            raise CorruptBackup(str(err)) from None
        if not isinstance(meta, dict) or not isinstance(meta.get("epoch"), int):
            raise CorruptBackup(f"{self.directory / name} is corrupt (it holds no backup record)")
        weights = self.directory / str(meta.get("weights"))
        with strategy_scope(self.model):  # the optimizer's slots are mirrored like its variables
            optimizer = self.model.optimizer
            if not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            try:
                self.model.load_weights(weights)
            except Exception as err:  # noqa: BLE001 - h5py and Keras raise several types for a bad file
                raise CorruptBackup(f"{weights} is corrupt ({_brief(err)})") from None
            try:
                set_seed_states(self.model, meta.get("seed_generators", []))
            except ValueError as err:
                raise CorruptBackup(f"{self.directory / name}: {err}") from None
        self._note_replicas(meta.get("replicas"))
        self._keeper_state = None
        keeper = meta.get("keeper")
        if self.keeper is not None and keeper is not None:
            weights = None
            if keeper.get("weights"):
                with np.load(self.directory / keeper["weights"]) as stored:
                    weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
            self._keeper_state = {**keeper, "weights": weights}
        for entry in meta.get("callbacks", []):
            self._load_callback_state(entry)
        self.history = {k: [math.nan if v is None else float(v) for v in values]
                        for k, values in meta.get("history", {}).items()}
        self.seconds_before = float(meta.get("seconds", 0.0))
        self.epochs_before = meta["epoch"]
        if self.step_limit is not None:
            self.step_limit.done_before = int(meta.get("steps", 0))
        return meta

    def _note_replicas(self, before: Any) -> None:
        """Say what changes when a stage resumes on another number of replicas (workers, devices)."""
        now = _replicas(self.model)
        if not isinstance(before, int) or before == now:
            return
        print(f"kerasopt: note: this stage was backed up on {before} replica(s) and resumes on {now}. "
              "The global batch (data.batch_size) and the data order stay the same, so training "
              f"continues as it would have; every batch is now split {now} ways, so the sums across "
              "replicas round differently (float rounding, ~1e-6), and a learning rate scaled with "
              "the replica count (runtime.scale_learning_rate) follows the new count.", file=sys.stderr)

    def _callback_state(self, index: int, callback: Any, stem: str) -> dict[str, Any]:
        """One callback's state as JSON, its best weights (if any) in an `.npz` beside it."""
        try:
            state = dict(callback.state_dict(include_weights=True))
        except TypeError:  # a state_dict without weights
            state = dict(callback.state_dict())
        weights = state.pop("best_weights", None)
        entry: dict[str, Any] = {"index": index, "class": type(callback).__name__, "state": state}
        if weights is not None:
            entry["weights"] = f"{stem}.callback{index}.npz"
            with atomic_target(self.directory / entry["weights"]) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, *weights)
        return entry

    def _load_callback_state(self, entry: dict[str, Any]) -> None:
        index = entry.get("index")
        if not isinstance(index, int) or index >= len(self.stateful):
            return
        callback = self.stateful[index]
        if type(callback).__name__ != entry.get("class"):
            return  # the recipe's callbacks changed (a resume with --force): start them afresh
        state = dict(entry.get("state", {}))
        if entry.get("weights"):
            with np.load(self.directory / entry["weights"]) as stored:
                state["best_weights"] = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        callback.load_state_dict(state)

    def _delete_unnamed(self) -> None:
        named = set()
        for name in (CURRENT, PREVIOUS):
            try:
                meta = self.run_dir.read_json(f"{self.folder}/{name}")
            except ValueError:  # unreadable: it names no file
                meta = None
            if isinstance(meta, dict):
                named |= {meta.get("weights"), (meta.get("keeper") or {}).get("weights")}
                named |= {entry.get("weights") for entry in meta.get("callbacks", [])}
        for path in self.directory.glob("epoch_*"):
            if path.name not in named:
                path.unlink(missing_ok=True)


class CorruptBackup(ValueError):
    """A backup file that cannot be read; the message names it."""


def _seed_variables(model: Any) -> list[Any]:
    """The model's variables that are not weights: the seed generators' states (dropout, noise)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def seed_states(model: Any) -> list[list[Any]]:
    """The model's seed generator states as JSON data (`[path, values]` each); weight files lack them."""
    return [[v.path, np.asarray(v.numpy()).tolist()] for v in _seed_variables(model)]


def set_seed_states(model: Any, stored: list[list[Any]]) -> None:
    """Put back :func:`seed_states`, by position (paths get a `_1` suffix when a process builds a
    model twice).

    Raises:
        ValueError: When the number of states differs from the model's.
    """
    variables = _seed_variables(model)
    if len(stored) != len(variables):
        raise ValueError(f"{len(stored)} seed generator states are stored; the model has {len(variables)}")
    for variable, (_, value) in zip(variables, stored, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype).reshape(variable.shape))


def strategy_scope(model: Any) -> Any:
    """The scope of the `tf.distribute` strategy `model` was built under (new optimizer slots
    must be created in it: "Need to be inside `with strategy.scope()`" otherwise)."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _replicas(model: Any) -> int:
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def _brief(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
