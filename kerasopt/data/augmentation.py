"""Training-time augmentation of batches in the tf.data pipeline, declared as plain specs."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from kerasopt.data import mixing
from kerasopt.data.errors import DataError

# type -> {argument: (accepted types, default, check, what is allowed)}
_POSITIVE = (lambda v: v > 0, "a number > 0")
_FRACTION = (lambda v: 0 <= v <= 1, "a number in [0, 1]")
ARGUMENTS: dict[str, dict[str, tuple[tuple[type, ...], Any, Any, str]]] = {
    "noise": {"stddev": ((int, float), 0.1, *_POSITIVE)},
    "random_translation": {
        "height_factor": ((int, float), 0.1, *_FRACTION),
        "width_factor": ((int, float), 0.1, *_FRACTION),
        "fill_mode": ((str,), "reflect", lambda v: v in ("reflect", "wrap", "constant",
                                                         "nearest"),
                      "'reflect', 'wrap', 'constant' or 'nearest'"),
    },
    "random_flip": {"mode": ((str,), "horizontal", lambda v: v in (
        "horizontal", "vertical", "horizontal_and_vertical"),
        "'horizontal', 'vertical' or 'horizontal_and_vertical'")},
    "random_crop": {"padding": ((int,), 4, lambda v: v >= 1, "an integer >= 1")},
    "mixup": {"alpha": ((int, float), 0.2, *_POSITIVE)},
    "cutmix": {"alpha": ((int, float), 1.0, *_POSITIVE)},
}
SPATIAL = ("random_translation", "random_flip", "random_crop", "cutmix")
MIXING = ("mixup", "cutmix")


class Augmentation:
    """A list of augmentation steps applied, in order, to training batches only.

    Steps (each a mapping with `type` and its arguments):

    - `noise`: adds Gaussian noise, `stddev` (> 0, in raw input units, since
      normalization happens inside the model; defaults to 0.1).
    - `random_translation`: `keras.layers.RandomTranslation` with `height_factor`,
      `width_factor` (fractions in [0, 1]; default 0.1) and `fill_mode` (default
      "reflect").
    - `random_flip`: `keras.layers.RandomFlip`, `mode` (default "horizontal").
    - `random_crop`: zero-pads each side by `padding` (default 4) and crops back to the
      input size at a random place drawn per sample (the CIFAR recipe of He et al.,
      2016), so the input shape never changes. Written with stateless TensorFlow ops
      rather than `keras.layers.RandomCrop`, which in Keras 3.15 draws one crop offset
      per batch, with the row and column offsets from the same seed.
    - `mixup` (Zhang et al., 2018) with `alpha` (default 0.2) and `cutmix` (Yun et al.,
      2019) with `alpha` (default 1.0): see `kerasopt.data.mixing`. They make labels
      soft, so the pipeline then carries one-hot labels and the loss must be
      categorical crossentropy (`soft_labels` is True). Classification only; at most one.

    Spatial steps (`random_*`, `cutmix`) need channels-last images `(h, w, c)` or
    sequences `(steps, c)`; a sequence is treated as a one-row image (only horizontal
    moves and flips). Noise and mixup work on any input shape.

    Args:
        specs: The steps, e.g. `[{"type": "noise", "stddev": 0.1}]`. Defaults to `()`.
        input_shape: The shape of one sample. Defaults to `()`.
        task: "classification" or "regression". Defaults to `"classification"`.
        seed: Seeds the Keras layers. Defaults to `0`.

    Raises:
        DataError: For an unknown type or argument, a bad value, a spatial step on flat
            inputs, mixing on regression, or two mixing steps.
    """

    def __init__(self, specs: Sequence[Mapping[str, Any]] = (), input_shape: Sequence[int] = (),
                 task: str = "classification", seed: int = 0) -> None:
        self.specs = [self._check(i, spec) for i, spec in enumerate(specs)]
        self.input_shape = tuple(input_shape)
        kinds = [spec["type"] for spec in self.specs]
        for i, kind in enumerate(kinds):
            if kind in SPATIAL and len(self.input_shape) not in (2, 3):
                raise DataError(f"augmentation[{i}] type {kind!r} needs images (h, w, c) or "
                                f"sequences (steps, c); the inputs have shape "
                                f"{self.input_shape}. Use 'noise' or 'mixup' for flat features.")
            if kind in MIXING and task != "classification":
                raise DataError(f"augmentation[{i}] type {kind!r} mixes class labels, so it "
                                f"needs a classification task; this data is {task}.")
            if kind == "random_flip" and len(self.input_shape) == 2 and \
                    self.specs[i]["mode"] != "horizontal":
                raise DataError(f"augmentation[{i}] random_flip on sequences can only flip "
                                f"along the steps: mode must be 'horizontal'. Received: "
                                f"mode={self.specs[i]['mode']!r}.")
        if sum(kind in MIXING for kind in kinds) > 1:
            raise DataError(f"augmentation may hold at most one of mixup and cutmix. "
                            f"Received types: {kinds}.")
        self.soft_labels = any(kind in MIXING for kind in kinds)
        self._layers = [self._layer(spec, seed + i) for i, spec in enumerate(self.specs)]

    @staticmethod
    def _check(index: int, spec: Mapping[str, Any]) -> dict[str, Any]:
        where = f"augmentation[{index}]"
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise DataError(f"{where} must be a mapping with a `type` key, e.g. "
                            f"{{'type': 'noise', 'stddev': 0.1}}. Received: {spec!r}.")
        kind = spec["type"]
        if kind not in ARGUMENTS:
            close = difflib.get_close_matches(str(kind), list(ARGUMENTS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(f"{where} has an unknown type {kind!r}.{hint} "
                            f"Allowed types: {', '.join(ARGUMENTS)}.")
        arguments = ARGUMENTS[kind]
        resolved: dict[str, Any] = {"type": kind}
        for name in spec:
            if name != "type" and name not in arguments:
                raise DataError(f"{where} ({kind}) has an unknown argument {name!r}. "
                                f"Allowed arguments: {', '.join(arguments)}.")
        for name, (types, default, ok, allowed) in arguments.items():
            value = spec.get(name, default)
            if isinstance(value, bool) or not isinstance(value, types) or not ok(value):
                raise DataError(f"{where} ({kind}) argument `{name}` must be {allowed}. "
                                f"Received: {name}={value!r}.")
            resolved[name] = value
        return resolved

    def _layer(self, spec: dict[str, Any], seed: int) -> Any:
        import keras

        kind = spec["type"]
        if kind == "random_translation":
            height = spec["height_factor"] if len(self.input_shape) == 3 else 0.0
            return keras.layers.RandomTranslation(height, spec["width_factor"],
                                                  fill_mode=spec["fill_mode"], seed=seed)
        if kind == "random_flip":
            return keras.layers.RandomFlip(spec["mode"], seed=seed)
        return None

    def __call__(self, x: Any, y: Any, seed: Any) -> tuple[Any, Any]:
        """Augment one batch (float inputs; one-hot labels when `soft_labels`).

        Args:
            x: The batch of inputs.
            y: The batch of labels.
            seed: An int tensor of shape `[2]` for the stateless steps.

        Returns:
            The augmented inputs and labels.
        """
        import tensorflow as tf

        for i, (spec, layer) in enumerate(zip(self.specs, self._layers, strict=True)):
            step_seed = tf.random.experimental.stateless_fold_in(seed, i)
            kind = spec["type"]
            if kind == "noise":
                x = x + spec["stddev"] * tf.random.stateless_normal(tf.shape(x), step_seed,
                                                                     dtype=x.dtype)
            elif kind == "mixup":
                x, y = mixing.mixup(x, y, float(spec["alpha"]), step_seed)
            elif kind == "cutmix":
                x, y = mixing.cutmix(x, y, float(spec["alpha"]), step_seed)
            elif kind == "random_crop":
                x = self._crop(x, spec["padding"], step_seed)
            else:
                sequence = len(self.input_shape) == 2
                x = layer(x[:, None] if sequence else x, training=True)
                x = x[:, 0] if sequence else x
        return x, y

    def _crop(self, x: Any, pad: int, seed: Any) -> Any:
        """Zero-pad the spatial axes by `pad` and crop back at per-sample random offsets."""
        import tensorflow as tf

        spatial = self.input_shape[:-1]
        seeds = tf.random.experimental.stateless_split(seed, len(spatial))
        x = tf.pad(x, [[0, 0]] + [[pad, pad]] * len(spatial) + [[0, 0]])
        batch = tf.shape(x)[0]
        for axis, size in enumerate(spatial, start=1):
            start = tf.random.stateless_uniform([batch], seeds[axis - 1], maxval=2 * pad + 1,
                                                dtype=tf.int32)
            index = start[:, None] + tf.range(size)[None, :]
            x = tf.gather(x, index, axis=axis, batch_dims=1)
        return x
