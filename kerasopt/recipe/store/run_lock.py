"""`RunLock`: one writer per run directory, enforced by the kernel (`flock` on the directory)."""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from kerasopt.recipe.errors import RunRefused

LOCK_NAME = ".kerasopt.lock"
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class RunLock:
    """An exclusive `flock` on a run directory, held open for the life of the run.

    The lock belongs to the kernel, not to a file's existence: it is taken with
    `flock(LOCK_EX | LOCK_NB)` on a descriptor of the directory itself, so deleting any
    file does not free it, and the kernel frees it when the holder ends, however it
    ends (SIGKILL, a crash, a reboot). Beside it, `.kerasopt.lock` records who holds it
    (PID, host, start time) for the message a second writer gets; that record is only
    information, and one left by a killed run is replaced (with a note).

    Where directories cannot be locked (NFS emulates `flock` with POSIX locks, which need
    a descriptor open for writing), the lock is taken on `.kerasopt.lock` itself, opened
    for writing and kept open; there, deleting that file while a run holds it would let a
    second writer in.

    Args:
        folder: The run directory (it must exist).

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
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._descriptor is not None

    def holder(self) -> dict[str, Any] | None:
        """The record's content (`pid`, `host`, `started`), `{}` when unreadable, None when absent."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            return {}  # being written this instant, or emptied
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        """Take the lock without waiting, and record this process as its holder.

        Raises:
            RunRefused: When another process holds it (the message names that process
                when its record is readable), or the directory cannot be opened.
        """
        before = self.holder()  # read first: on NFS, closing any descriptor of a locked file unlocks it
        try:
            descriptor = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as err:
            raise RunRefused(f"the run directory {self.folder} cannot be opened ({err.strerror}).") from None
        if self._flock(descriptor, before) is not None:
            descriptor = self._lock_record_file(before)  # a file system without directory locks
            self._descriptor = descriptor
            self._write_record(descriptor, before)
            return
        self._descriptor = descriptor
        record = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            self._write_record(record, before)
        finally:
            os.close(record)

    def release(self) -> None:
        """Delete the record and free the lock, if this object holds it."""
        if self._descriptor is None:
            return
        holder = self.holder()
        if holder is not None and holder.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self._descriptor)  # frees the lock (a second descriptor of the record file too)
        self._descriptor = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _lock_record_file(self, before: dict[str, Any] | None) -> int:
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RunRefused(f"the run directory {self.folder} cannot be locked ({err.strerror}).") from None
        err = self._flock(descriptor, before)
        if err is not None:
            raise RunRefused(f"the run directory {self.folder} cannot be locked ({err.strerror}); "
                             "use a folder on a local file system.")
        return descriptor

    def _flock(self, descriptor: int, before: dict[str, Any] | None) -> OSError | None:
        """Lock `descriptor` without waiting; on failure close it and return the error.

        Raises:
            RunRefused: When another process holds the lock.
        """
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(descriptor)
            if err.errno in _BUSY:
                raise RunRefused(_held_message(self.folder, before)) from None
            return err
        return None

    def _write_record(self, descriptor: int, before: dict[str, Any] | None) -> None:
        """Write who holds the lock into `.kerasopt.lock` through `descriptor` (in place: it may
        be the locked file itself); a record left by a run that ended without releasing is noted."""
        if before is not None and "pid" in before and before["pid"] != os.getpid():
            print(f"kerasopt: note: taking over the stale lock {self.path} of process "
                  f"{before['pid']} (started {before.get('started', '?')}): that run ended "
                  "without releasing it.", file=sys.stderr)
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        content = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, content.encode("utf-8"), 0)


def _held_message(folder: Path, holder: dict[str, Any] | None) -> str:
    if holder and "pid" in holder:
        who = (f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, "
               f"started {holder.get('started', '?')}")
    else:
        who = f"a process whose record {folder / LOCK_NAME} is missing or unreadable"
    return (f"the run directory {folder} is in use by another run ({who}). Wait for it to finish, "
            "or use another --output-dir. The lock is the operating system's: it is freed when "
            "that process ends, however it ends.")
