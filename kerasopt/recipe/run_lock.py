"""`RunLock`: one writer per run directory, claimed atomically with a lock file."""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from kerasopt.recipe.run_errors import RunRefused

LOCK_NAME = ".kerasopt.lock"


class RunLock:
    """The lock file `.kerasopt.lock` of a run directory: who writes there now.

    The file is created with `O_CREAT | O_EXCL`, so of two runs started into the same
    directory exactly one gets it; it holds the owner's PID, host name and start time as
    JSON. A lock left by a process that no longer runs on this host (killed, or the
    machine rebooted) is stale: the next run takes it over and says so. A lock from
    another host cannot be checked from here and is never taken over.

    Args:
        folder: The run directory (created when missing).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with RunLock(folder) as lock:
        ...     lock.holder()["pid"] == os.getpid()
        True
        >>> (Path(folder) / LOCK_NAME).exists()
        False
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        """The lock file's content (`pid`, `host`, `started`), `{}` when unreadable, None when absent."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return {}  # a lock being written this instant, or cut short by a crash
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        """Take the lock, taking over a stale one.

        Raises:
            RunRefused: When another live process (or one on another host) holds it.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            if self._create():
                return
            holder = self.holder()
            if holder is None:
                continue  # released between our attempt and the read
            if not _is_stale(holder):
                raise RunRefused(_held_message(self.path, holder))
            print(f"kerasopt: note: taking over the stale lock {self.path} of process "
                  f"{holder.get('pid')} (started {holder.get('started', '?')}), which no longer runs.",
                  file=sys.stderr)
            if self.holder() == holder:  # not taken over by another run meanwhile
                self.path.unlink(missing_ok=True)
        raise RunRefused(_held_message(self.path, self.holder() or {}))

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self.held:
            self.held = False
            holder = self.holder()
            if holder is not None and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _create(self) -> bool:
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        content = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(content, handle)
        self.held = True
        return True


def _is_stale(holder: dict[str, Any]) -> bool:
    """Whether a lock's owner is known to be gone: same host, and no process with its PID."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def _held_message(path: Path, holder: dict[str, Any]) -> str:
    who = (f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, "
           f"started {holder.get('started', '?')}")
    return (f"the run directory {path.parent} is in use by another run ({who}; lock file {path}). "
            "Wait for it to finish, or use another --output-dir. If that run is gone, "
            f"delete {path}.")
