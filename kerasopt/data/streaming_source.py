"""The base class of sources that stream their files instead of loading arrays."""

from __future__ import annotations

import abc
import glob
from pathlib import Path

from kerasopt.data.data_problem import DataProblem
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData
from kerasopt.data.stream import StreamData
from kerasopt.data.stream_pipeline import cache_problem

STREAM_OPTIONS = (
    Option("cache", (str,), default="none",
           doc="none | memory | a folder: keep the decoded samples after the first read"),
    Option("shuffle_shards", (int,), default=1,
           doc="files whose samples are shuffled together (the shuffle buffer, in files)"),
)
"""The options every streaming source has."""


class StreamingSource(DataSource):
    """A source whose splits are files read batch by batch (`streams`), never loaded whole.

    The training, validation and test splits come from separate files (a stream is
    never split at random), so `validation_split`, `test_split` and `limit` do not
    apply. The order of each training pass follows `kerasopt.data.stream_pipeline`.
    """

    def has_test_set(self) -> bool:
        """Streaming sources always bring their test split."""
        return True

    def load(self, seed: int) -> SourceData:
        """Not available: a streaming source is read through `streams`."""
        raise DataError(f"The data source {self.name!r} streams its files; build_data reads it "
                        "through `streams()`, it has no arrays to load.")

    @abc.abstractmethod
    def streams(self) -> StreamData:
        """The training, validation and test streams and the facts about the samples.

        Raises:
            DataError: For files that do not match the declared spec, naming the file.
        """

    def stream_problems(self) -> list[DataProblem]:
        """Problems with the options every streaming source has."""
        problems = []
        message = cache_problem(self.config["cache"])
        if message:
            problems.append(DataProblem("cache", message, self.config["cache"], "none | memory | a folder"))
        shards = self.config["shuffle_shards"]
        if shards < 1:
            problems.append(DataProblem("shuffle_shards", "`shuffle_shards` must be an integer >= 1. "
                                        f"Received: shuffle_shards={shards!r}.", shards, ">= 1"))
        return problems


def glob_files(option: str, pattern: str, suffix: str = "") -> tuple[list[str], DataProblem | None]:
    """The files a glob pattern matches, sorted, or the problem when it matches none.

    Args:
        option: The option that holds the pattern, for messages.
        pattern: A path or glob pattern (`~` is expanded; `**` matches folders too).
        suffix: What the files are, for the message. Defaults to `""`.

    Returns:
        The sorted regular files matched, and `None`; or `[]` and the problem.
    """
    found = sorted(p for p in glob.glob(str(Path(pattern).expanduser()), recursive=True) if Path(p).is_file())
    if not found:
        where = Path(pattern).expanduser().parent
        nearby = sorted(p.name for p in where.iterdir())[:8] if where.is_dir() else []
        seen = f" Files in {str(where)!r}: {', '.join(nearby)}." if nearby else \
            f" The folder {str(where)!r} does not exist." if not where.is_dir() else ""
        return [], DataProblem(option, f"`{option}` matches no {suffix or 'file'}. "
                               f"Received: {option}={pattern!r}.{seen}", pattern)
    return found, None

