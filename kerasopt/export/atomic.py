"""Atomic writes for exports: build under a temporary name in the same directory, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


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


_LEFTOVER = re.compile(r"^\.(?P<final>.+)\.[0-9a-f]{8}\.(?:tmp.*|old)$")


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


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
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
    tmp = final.with_name(f".{final.name}.{token}.tmp{final.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"The export wrote nothing to the temporary path {tmp}.")
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


def path_bytes(path: str | os.PathLike[str]) -> int:
    """Return the size of a file, or the total size of the files under a directory."""
    target = Path(path)
    if target.is_dir():
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return target.stat().st_size
