"""Atomic writes, kerasopt's one way to write a file: build under a temporary name in the same
directory, then rename.

Fault injection (for kerasopt's own fault tests, never needed otherwise): when the
environment variable `KERASOPT_FAULT` is `<SIGNAL>:<file name>[:<n>]`, the process sends
itself that signal the `n`-th time (default: the first) a file of that name is complete
under its temporary name and about to be renamed into place, the moment a crash would
cost the most. `KERASOPT_FAULT=SIGKILL:metrics.json:2` kills a run while it writes its
final `metrics.json`. The signal is real (`os.kill`), so the code that handles it is the
code a user's Ctrl-C or `kill` reaches.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class NoSpaceError(OSError):
    """The disk filled up while writing a file; nothing was left under the file's final name.

    Args:
        path: The final path that was being written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.ENOSPC, f"no space left on device while writing {path}")
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.strerror)


def is_no_space(err: BaseException) -> bool:
    """Whether an error is a full disk (`ENOSPC`, also as h5py and TensorFlow word it)."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    text = str(err)
    return "No space left on device" in text or "errno = 28" in text


def ensure_space(path: str | os.PathLike[str], needed: int) -> None:
    """Raise :class:`NoSpaceError` naming `path` when its folder's disk has less than `needed` bytes free.

    For writers that cannot be trusted with a full disk: HDF5 (Keras's `.weights.h5`) can
    crash the whole process when a write fails with ENOSPC, where Python's own writers raise.

    Args:
        path: The file about to be written (its parent folder must exist).
        needed: The bytes the write needs, generously estimated.

    Raises:
        NoSpaceError: When the disk has less room than that.
    """
    stats = os.statvfs(Path(path).parent)
    if stats.f_bavail * stats.f_frsize < needed:
        raise NoSpaceError(path)


FAULT_VARIABLE = "KERASOPT_FAULT"


def fault_point(final: str | os.PathLike[str]) -> None:
    """Send this process the signal `KERASOPT_FAULT` asks for, if it names `final` (see the module doc).

    The count lives in the variable itself (`:<n>` counts down, and the variable is removed
    when the signal is sent), so runs in one process never share a count.

    Args:
        final: The final path of a file whose temporary is complete and about to be renamed.
    """
    spec = os.environ.get(FAULT_VARIABLE)
    if not spec:
        return
    signal_name, _, target = spec.partition(":")
    name, _, nth = target.partition(":")
    if Path(final).name != name:
        return
    if int(nth or 1) > 1:
        os.environ[FAULT_VARIABLE] = f"{signal_name}:{name}:{int(nth) - 1}"
        return
    del os.environ[FAULT_VARIABLE]
    os.kill(os.getpid(), signal.Signals[signal_name])


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success move it to `path`, on error delete it.

    The temporary name is hidden (`.<name>.<token>.tmp<suffix>`) and keeps the final
    suffix, so writers that check suffixes (`.keras`, `.tflite`) accept it. Files are
    moved with `os.replace`, which is atomic on one file system. A directory that
    already exists under the final name is first renamed aside, replaced, then deleted,
    so readers never see a half-written directory. If the body raises, the temporary
    file or directory is removed and the final name is left as it was; a full disk
    is raised as :class:`NoSpaceError` naming the final path.

    Args:
        path: The final file or directory path. Its parent directory is created.
        suffix: The temporary name's ending, for writers that check more than the last
            suffix (Keras's `save_weights` wants `.weights.h5`). Defaults to the final
            name's suffix.

    Yields:
        The temporary path to write to.

    Raises:
        NoSpaceError: When the disk fills up while writing.

    Example:
        ```python
        with atomic_target("out/model.tflite") as tmp:
            tmp.write_bytes(data)
        ```
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp = final.with_name(f".{final.name}.{token}.tmp{final.suffix if suffix is None else suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"The export wrote nothing to the temporary path {tmp}.")
        fault_point(final)
        if tmp.is_dir() and final.exists():
            aside = final.with_name(f".{final.name}.{token}.old")
            os.replace(final, aside)
            os.replace(tmp, final)
            _remove(aside)
        else:
            os.replace(tmp, final)
    except Exception as err:
        if is_no_space(err) and not isinstance(err, NoSpaceError):
            raise NoSpaceError(final) from err
        raise
    finally:
        _remove(tmp)


_LEFTOVER = re.compile(r"^\.(?P<final>.+)\.[0-9a-f]{8}\.(?:tmp.*|old)$")
"""Names of the temporaries `atomic_target` uses (`.<name>.<token>.tmp<suffix>`) and of a
replaced directory set aside (`.<name>.<token>.old`)."""
_WEIGHTS_SCRATCH = re.compile(r"^\.weights\.[a-z0-9_]{8}$")
"""`RunDirectory.save_weights`'s scratch folders."""


def leftover_of(name: str) -> str | None:
    """The final name whose temporary or set-aside copy `name` is (left by a killed writer), or None.

    Example:
        >>> leftover_of(".model.keras.0123abcd.tmp.keras"), leftover_of(".saved_model.0123abcd.old")
        ('model.keras', 'saved_model')
        >>> leftover_of("model.keras") is None
        True
    """
    match = _LEFTOVER.match(name)
    return match.group("final") if match else None


def is_temporary(name: str) -> bool:
    """Whether `name` is one of the temporaries kerasopt's writers use (see `leftover_of`)."""
    return bool(_LEFTOVER.match(name) or _WEIGHTS_SCRATCH.match(name))


def remove_temporaries(folder: str | os.PathLike[str], *, within: Callable[[str], bool] | None = None,
                       skip: str = ".kerasopt-replaced-") -> list[Path]:
    """Delete the temporaries a killed writer left in `folder` and its subfolders.

    A process killed by SIGKILL (or the power going) has no chance to remove the
    temporary it was writing; it never holds a final name, but it would stay. Call this
    only while no other process writes in `folder` (a run directory's lock held).

    Args:
        folder: The folder to clean.
        within: Which of `folder`'s own entries may be searched and removed (a run
            directory's: the ones its manifest lists, and their leftovers), so that
            nothing another program wrote is touched. Defaults to all.
        skip: Subfolders whose names start with this are left alone. Defaults to
            `".kerasopt-replaced-"` (a replaced run, kept aside).

    Returns:
        The paths deleted.
    """
    removed = []
    for parent, folders, files in os.walk(folder):
        if within is not None and Path(parent) == Path(folder):
            folders[:] = [n for n in folders if within(n)]
            files = [n for n in files if within(n)]
        for name in [*folders, *files]:
            if is_temporary(name):
                removed.append(Path(parent) / name)
                _remove(removed[-1])
        folders[:] = [n for n in folders if not is_temporary(n) and not n.startswith(skip)]
    return removed


def path_bytes(path: str | os.PathLike[str]) -> int:
    """Return the size of a file, or the total size of the files under a directory."""
    target = Path(path)
    if target.is_dir():
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return target.stat().st_size


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int = 1) -> Path:
    """Write `data` as JSON (sorted keys, a final newline) to `path` through :func:`atomic_target`.

    Args:
        path: The final file; its folder is created.
        data: JSON-serializable data.
        indent: The JSON indentation. Defaults to `1`.

    Returns:
        `path`, as a `Path`.
    """
    with atomic_target(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, sort_keys=True) + "\n", encoding="utf-8")
    return Path(path)
