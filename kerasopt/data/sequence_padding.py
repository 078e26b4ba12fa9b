"""`SequencePadding`: variable-length sequences padded to one length at load, for a masked model.

A recipe's `data.sequences` (npz source) turns sequences of different lengths into one
float32 array `(samples, max_length, features)` in NumPy, deterministically, and tells the
model builder to put a `keras.layers.Masking(mask_value=value)` first, so recurrent layers
(LSTM, GRU, SimpleRNN, Bidirectional) skip the padded steps and GlobalAveragePooling1D
leaves them out of its mean. Layers that do not carry Keras masks (Conv1D, Flatten, the
built-in `cnn`, `resnet` and `mlp`) would silently train on the padded steps as data: the
model builder refuses them while `mask` is on (`mask: false` pads without a mask).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem
from kerasopt.suggestions import did_you_mean

SIDES = ("post", "pre")
KEYS = ("padding", "truncating", "max_length", "value", "mask", "lengths_key", "allow_pickle")
AUGMENTATION_CONFLICT = (
    "`augmentation` changes the padded steps of `sequences` too (noise moves them off the padding "
    "value, mixup and cutmix mix them with real steps), so the mask would no longer find them; "
    "remove the augmentation or set `sequences.mask: false`")
"""Why masked padded sequences and augmentation are refused together."""
DOC = ("pad variable-length sequences at load and mask the padded steps: {padding: post|pre, "
       "truncating: post|pre, max_length: N (default: the longest training sequence), value: 0.0, "
       "mask: true, lengths_key: <x_key>_lengths, allow_pickle: false}")


@dataclasses.dataclass(frozen=True)
class SequencePadding:
    """How variable-length sequences become one array, and whether the model masks the padding.

    Args:
        padding: `"post"` pads after the sequence, `"pre"` before it. Defaults to `"post"`.
        truncating: Which end of a sequence longer than `max_length` is cut: `"post"` keeps
            its first `max_length` steps, `"pre"` its last. Defaults to `"post"`.
        max_length: The padded length. Defaults to `None` (the longest training sequence;
            a test file is padded or cut to the same length).
        value: The padding value, written into every feature of a padded step. Defaults
            to `0.0`.
        mask: Whether the model masks the padded steps (`keras.layers.Masking` first): a
            step whose every feature equals `value` is skipped. Defaults to `True`.
        lengths_key: The array of sequence lengths when the file holds the sequences
            concatenated (`x` of shape `(total_steps, ...)`). Defaults to `None`
            (`<x_key>_lengths`).
        allow_pickle: Read an object array of sequences (what `numpy.savez(path, x=list_of_arrays)`
            writes) by unpickling it. Unpickling can run code: only for files you trust.
            Defaults to `False`.

    Example:
        >>> padding = SequencePadding(padding="pre", value=-1.0)
        >>> padding.pad([np.array([1.0, 2.0]), np.array([3.0])], 3)[..., 0]
        array([[-1.,  1.,  2.],
               [-1., -1.,  3.]], dtype=float32)
    """

    padding: str = "post"
    truncating: str = "post"
    max_length: int | None = None
    value: float = 0.0
    mask: bool = True
    lengths_key: str | None = None
    allow_pickle: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SequencePadding:
        """Check the `data.sequences` mapping and build the padding.

        Raises:
            DataError: Naming the key (`sequences.<key>`), the value and what is allowed.
        """
        if not isinstance(options, Mapping):
            raise DataProblem("sequences", f"`sequences` must be a mapping ({DOC}). Received: "
                              f"sequences={options!r}.", options, "a mapping").error()
        for key in options:
            if key not in KEYS:
                raise DataProblem(f"sequences.{key}", f"Unknown key {key!r} in `sequences`. Allowed: "
                                  f"{', '.join(KEYS)}.", key, list(KEYS), did_you_mean(str(key), KEYS)).error()
        for key in ("padding", "truncating"):
            if key in options and options[key] not in SIDES:
                raise DataProblem(f"sequences.{key}", f"`sequences.{key}` must be 'post' or 'pre'. "
                                  f"Received: {key}={options[key]!r}.", options[key], list(SIDES),
                                  did_you_mean(str(options[key]), SIDES)).error()
        length = options.get("max_length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise DataProblem("sequences.max_length", "`sequences.max_length` must be a whole number "
                              f">= 1 (or absent: the longest sequence). Received: max_length={length!r}.",
                              length, "an integer >= 1").error()
        value = options.get("value", 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise DataProblem("sequences.value", "`sequences.value` must be a finite number. "
                              f"Received: value={value!r}.", value, "a finite number").error()
        for key in ("mask", "allow_pickle"):
            if key in options and not isinstance(options[key], bool):
                raise DataProblem(f"sequences.{key}", f"`sequences.{key}` must be true or false. "
                                  f"Received: {key}={options[key]!r}.", options[key], [True, False]).error()
        lengths_key = options.get("lengths_key")
        if lengths_key is not None and not isinstance(lengths_key, str):
            raise DataProblem("sequences.lengths_key", "`sequences.lengths_key` must be an array name. "
                              f"Received: lengths_key={lengths_key!r}.", lengths_key, "a string").error()
        return cls(**{**dict(options), "value": float(value)})

    def length_of(self, sequences: Sequence[np.ndarray]) -> int:
        """The padded length for these (training) sequences: `max_length`, else the longest."""
        return self.max_length or max(len(s) for s in sequences)

    def pad(self, sequences: Sequence[np.ndarray], length: int) -> np.ndarray:
        """Pad (and cut) every sequence to `length` steps: float32 `(n, length, features)`.

        A sequence of scalars (shape `(steps,)`) gets one feature axis, so the array has the
        `(steps, channels)` form Keras's sequence layers take.
        """
        steps = [np.asarray(s, dtype=np.float32) for s in sequences]
        steps = [s[:, None] if s.ndim == 1 else s for s in steps]
        out = np.full((len(steps), length, *steps[0].shape[1:]), self.value, dtype=np.float32)
        for row, sequence in zip(out, steps, strict=True):
            kept = sequence[:length] if self.truncating == "post" else sequence[max(len(sequence) - length, 0):]
            if self.padding == "post":
                row[:len(kept)] = kept
            else:
                row[length - len(kept):] = kept
        return out

    def padded_steps(self, sequences: Sequence[np.ndarray]) -> tuple[int, int] | None:
        """(sequence, step) of the first real step equal to `value` in every feature, or None.

        With `mask` on, `keras.layers.Masking` would skip such a step as padding.
        """
        for index, sequence in enumerate(sequences):
            array = np.asarray(sequence, dtype=np.float32)
            same = array == self.value
            if array.ndim > 1:
                same = same.reshape(len(array), -1).all(axis=1)
            hits = np.flatnonzero(same)
            if hits.size:
                return index, int(hits[0])
        return None
