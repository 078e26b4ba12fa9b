"""Arrays from a NumPy `.npz` file (and optionally a second file for the test set)."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from kerasopt.data.array_checks import check_inputs, check_targets
from kerasopt.data.data_problem import DataProblem, raise_first
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.sequence_padding import DOC as SEQUENCES_DOC
from kerasopt.data.sequence_padding import SequencePadding
from kerasopt.data.source import (
    DataSource,
    SourceData,
    encode_labels,
    existing_path,
    path_problem,
    regression_targets,
)
from kerasopt.data.task_inference import TASK_CHOICES
from kerasopt.suggestions import did_you_mean


class NpzFile(DataSource):
    """Inputs and targets read from `.npz` files written with `numpy.savez`.

    The file is opened with `allow_pickle=False` (a data file never runs code). The
    inputs must be numeric, one sample per row, and finite once cast to float32.
    `task: auto` (the default) decides from the targets (see
    `kerasopt.data.task_inference.TaskInference`): for classification, labels
    (integers or strings) are mapped to indices 0..K-1 in sorted order and
    `class_names` keeps the original labels; for regression, targets are read as
    float32 with their shape (`(n,)` or `(n, k)` for k outputs). With `test_path`,
    that file (with the same keys) is the test set; without it, `build_data` carves
    one off with `test_split`.

    Variable-length sequences need `sequences` (see
    `kerasopt.data.sequence_padding.SequencePadding`): the file holds them concatenated,
    `x` of shape `(total_steps, ...)` with their lengths in `<x_key>_lengths` (no pickle),
    or as an object array (what `numpy.savez(path, x=list_of_arrays)` writes, read only
    with `allow_pickle: true`); they are padded to one length at load and the model masks
    the padding.

    Args:
        options: `path` (required), `x_key` (defaults to "x"), `y_key` (defaults to
            "y"), `test_path` (defaults to `None`), `task` ("auto", "classification"
            or "regression"; defaults to "auto"), `sequences` (defaults to `None`).

    Raises:
        DataError: For a missing or unreadable file, a key the file does not hold
            (the message lists the keys found), NaN or infinite values, or targets
            whose task is ambiguous.
    """

    name = "npz"
    options = (
        Option("path", (str,), required=True, doc="the .npz file"),
        Option("x_key", (str,), default="x", doc="array name of the inputs"),
        Option("y_key", (str,), default="y", doc="array name of the targets"),
        Option("test_path", (str,), doc="a second .npz file used as the test set"),
        Option("task", (str,), default="auto", choices=TASK_CHOICES,
               doc="auto: regression for fractional targets, classification for few classes"),
        Option("sequences", (dict,), doc=SEQUENCES_DOC),
    )

    def has_test_set(self) -> bool:
        """True when `test_path` is given."""
        return self.config["test_path"] is not None

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """Check paths, keys, values, task and classes (the arrays are read whole)."""
        try:
            return self._inspect({"class_weight": class_weight, "loss": loss,
                                  "output_activation": output_activation,
                                  "output_units": output_units})[0]
        except DataError as err:
            if err.problem is None:
                raise
            return [err.problem]

    def load(self, seed: int) -> SourceData:
        """Read the file(s); `seed` is unused."""
        problems, x, y, x_test, y_test, task = self._inspect({})
        raise_first(problems)
        if task == "classification":
            y, y_test, names = encode_labels(_one_column(y), None if y_test is None
                                             else _one_column(y_test), "y_key")
        else:
            y = regression_targets(y, "y_key")
            y_test = None if y_test is None else regression_targets(y_test, "y_key")
            names = None
        mask = self.config["sequences"] is not None and self._padding().mask
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task=task, class_names=names,
                          mask_value=self._padding().value if mask else None)

    def _padding(self) -> SequencePadding:
        return SequencePadding.from_options(self.config["sequences"] or {})

    def _inspect(self, training: dict[str, Any]) -> tuple[Any, ...]:
        cfg = self.config
        problems = [p for option in ("path", "test_path") if cfg[option] is not None
                    for p in [path_problem(option, cfg[option])] if p is not None]
        raise_first(problems)
        padding = self._padding() if cfg["sequences"] is not None else None
        x, y = self._read("path", padding)
        length = None
        if padding is not None:
            length = padding.length_of(x)
            x = self._pad(padding, x, length, "path")
        problems += check_inputs(x, key="x_key", where=f"path={cfg['path']!r}")
        x_test = y_test = None
        if cfg["test_path"] is not None:
            x_test, y_test = self._read("test_path", padding)
            if padding is not None and length is not None:
                x_test = self._pad(padding, x_test, length, "test_path")
            problems += check_inputs(x_test, key="test_path", where=f"test_path={cfg['test_path']!r}")
            if x_test.shape[1:] != x.shape[1:]:
                problems.append(DataProblem(
                    "test_path", f"The test inputs in test_path={cfg['test_path']!r} have shape "
                    f"{x_test.shape[1:]} per sample, the training inputs {x.shape[1:]}; they "
                    "must match.", list(x_test.shape[1:]), list(x.shape[1:])))
        task, found = check_targets(y, task=cfg["task"], key="y_key", **training)
        problems += found
        if task == "classification" and y_test is not None and not found:
            encode_labels(_one_column(y), _one_column(y_test), "y_key")  # unknown test classes
        return problems, x, y, x_test, y_test, task

    def _pad(self, padding: SequencePadding, sequences: list[np.ndarray], length: int, option: str) -> np.ndarray:
        shapes = {s.shape[1:] for s in sequences}
        if len(shapes) > 1:
            raise DataProblem("x_key", f"The sequences in {option}={self.config[option]!r} have different "
                              f"shapes per step: {', '.join(map(str, sorted(shapes)))}; only the number "
                              "of steps may vary.", sorted(map(list, shapes))).error()
        hit = padding.padded_steps(sequences) if padding.mask else None
        if hit is not None:
            raise DataProblem("sequences.value", f"Step {hit[1]} of sequence {hit[0]} in "
                              f"{option}={self.config[option]!r} equals the padding value {padding.value} "
                              "in every feature: the mask would skip it as padding. Set "
                              "`sequences.value` to a value no real step holds (e.g. below the data's "
                              "minimum) or `sequences.mask: false`.", padding.value,
                              "a value no real step holds").error()
        return padding.pad(sequences, length)

    def _read(self, option: str, padding: SequencePadding | None = None) -> tuple[Any, np.ndarray]:
        """The inputs (a float32 array, or a list of sequences with `padding`) and targets."""
        cfg = self.config
        path = existing_path(option, cfg[option])
        where = f"{option}={str(path)!r}"
        if not zipfile.is_zipfile(path):  # reads the archive's directory at the end only
            raise DataProblem(option, f"Cannot read {where} as a NumPy .npz file: numpy.savez writes a "
                              f"zip archive and this file ({path.stat().st_size:,} bytes) is none. Write it with "
                              "numpy.savez(path, x=..., y=...).", cfg[option], "a .npz file").error()
        pickled = _object_arrays(path)
        if cfg["x_key"] in pickled and (padding is None or not padding.allow_pickle):
            sequences = padding is not None
            raise DataProblem("sequences.allow_pickle" if sequences else "x_key",
                              f"The inputs {cfg['x_key']!r} in {where} are an object array (numpy.savez "
                              "pickles a list of arrays of different lengths), and unpickling a file can "
                              "run code. Write the sequences without pickle: numpy.savez(path, "
                              f"{cfg['x_key']}=numpy.concatenate(seqs), {cfg['x_key']}_lengths=[len(s) for "
                              "s in seqs], y=...)" + ("" if sequences else " with `data.sequences: {}`")
                              + ", or, for a file you trust, set `data.sequences.allow_pickle: true`.",
                              padding.allow_pickle if sequences else cfg["x_key"],
                              "true (a trusted file)" if sequences else "a numeric array").error()
        try:
            with np.load(path, allow_pickle=padding is not None and padding.allow_pickle) as archive:
                keys = list(archive.keys())
                arrays = []
                for key_option in ("x_key", "y_key"):
                    key = cfg[key_option]
                    if key not in keys:
                        raise DataProblem(
                            key_option, f"The file {where} has no array named {key!r} (option "
                            f"`{key_option}`). Arrays found: {', '.join(keys) or 'none'}.",
                            key, keys, did_you_mean(key, keys)).error()
                    arrays.append(archive[key])
                if padding is not None:
                    lengths_key = padding.lengths_key or f"{cfg['x_key']}_lengths"
                    arrays.append(archive[lengths_key] if lengths_key in keys else None)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            if isinstance(err, DataError):
                raise
            raise DataProblem(option, f"Cannot read {where} as a NumPy .npz file: {err}. Write "
                              "it with numpy.savez(path, x=..., y=...).", cfg[option]).error() from None
        x, y = arrays[:2]
        if padding is not None:
            sequences = _sequences(x, arrays[2], where, cfg["x_key"])
            if y.ndim == 0 or len(y) != len(sequences):
                raise DataProblem("y_key", f"{where} holds {len(sequences)} sequences ({cfg['x_key']!r}) but "
                                  f"{y.size if y.ndim == 0 else len(y)} targets ({cfg['y_key']!r}); they must "
                                  "match.", list(y.shape), f"{len(sequences)} targets").error()
            return sequences, y
        if not np.issubdtype(x.dtype, np.number):
            raise DataProblem("x_key", f"The inputs {cfg['x_key']!r} in {where} must be numeric. "
                              f"Received dtype {x.dtype}.", str(x.dtype)).error()
        if x.ndim < 2:
            raise DataProblem("x_key", f"The inputs {cfg['x_key']!r} in {where} must have one "
                              f"row per sample (at least 2-D). Received shape {x.shape}.",
                              list(x.shape)).error()
        if len(x) == 0:
            raise DataProblem("x_key", f"The inputs {cfg['x_key']!r} in {where} hold no samples "
                              f"(shape {x.shape}).", list(x.shape), "at least one sample").error()
        if y.ndim == 0 or len(y) != len(x):
            raise DataProblem("y_key", f"{where} holds {len(x)} inputs ({cfg['x_key']!r}) but "
                              f"{y.size if y.ndim == 0 else len(y)} targets ({cfg['y_key']!r}); they must "
                              "match.", list(y.shape), f"{len(x)} targets, one per input row").error()
        with np.errstate(over="ignore"):  # values beyond float32 become inf; check_inputs reports them
            return x.astype(np.float32), y


def _one_column(y: np.ndarray) -> np.ndarray:
    """Labels of shape (n, 1) as (n,): the shape Keras users often save class labels in."""
    return y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y


def _object_arrays(path: Any) -> set[str]:
    """Names of the arrays of an .npz file stored as pickled objects (read from the headers only)."""
    names = set()
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as handle:
                try:
                    version = np.lib.format.read_magic(handle)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    _shape, _fortran, dtype = read(handle)
                except ValueError:
                    continue  # not an array member: np.load reports it
            if dtype.hasobject:
                names.add(member[:-4])
    return names


def _sequences(x: np.ndarray, lengths: np.ndarray | None, where: str, key: str) -> list[np.ndarray]:
    """The sequences of `x`: an object array's items, `x` cut at `lengths`, or the rows of `x`."""
    if x.dtype.hasobject:
        items = [np.asarray(item) for item in x.reshape(-1)] if x.ndim else [np.asarray(x.item())]
        bad = next((i for i, item in enumerate(items) if not np.issubdtype(item.dtype, np.number)
                    or item.ndim < 1 or len(item) == 0), None)
        if bad is not None:
            raise DataProblem("x_key", f"Sequence {bad} of {key!r} in {where} is not a non-empty numeric "
                              f"array (dtype {items[bad].dtype}, shape {items[bad].shape}).",
                              str(items[bad].dtype), "numeric arrays of shape (steps,) or (steps, features)").error()
        return items
    if not np.issubdtype(x.dtype, np.number):
        raise DataProblem("x_key", f"The inputs {key!r} in {where} must be numeric. Received dtype "
                          f"{x.dtype}.", str(x.dtype)).error()
    if lengths is None:
        if x.ndim < 2:
            raise DataProblem("x_key", f"The inputs {key!r} in {where} are 1-D: give the sequence lengths "
                              f"in {key}_lengths (or `sequences.lengths_key`).", list(x.shape),
                              f"{key} and {key}_lengths").error()
        return list(x)
    ok = (lengths.ndim == 1 and np.issubdtype(lengths.dtype, np.integer) and lengths.size > 0
          and (lengths >= 1).all() and int(lengths.sum()) == len(x))
    if not ok:
        raise DataProblem("sequences.lengths_key", f"The sequence lengths in {where} must be whole numbers "
                          f">= 1, one per sequence, summing to the {len(x)} steps of {key!r}. Received "
                          f"shape {lengths.shape}, dtype {lengths.dtype}, sum "
                          f"{lengths.sum() if np.issubdtype(lengths.dtype, np.number) else '?'}.",
                          list(lengths.shape), f"integers >= 1 summing to {len(x)}").error()
    return np.split(x, np.cumsum(lengths)[:-1])

