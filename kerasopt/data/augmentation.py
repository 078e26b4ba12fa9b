"""Training-time augmentation of batches in the tf.data pipeline, declared as plain specs."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from kerasopt.data import mixing, series_augmentation
from kerasopt.data.errors import DataError
from kerasopt.data.series_augmentation import window_length


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _value_range(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_number, value)) \
        and value[0] < value[1]


def _area_range(value: Any) -> bool:
    return _value_range(value) and 0 < value[0] and value[1] <= 1


# type -> {argument: (accepted types, default, check, what is allowed)}
_POSITIVE = (lambda v: v > 0, "a number > 0")
_FRACTION = (lambda v: 0 <= v <= 1, "a number in [0, 1]")
_SIGMA = (lambda v: _number(v) and v > 0, "a finite number > 0")
_KNOTS = ((int,), 4, lambda v: v >= 2, "an integer >= 2")
_VALUE_RANGE = ((list, tuple), [0, 255], _value_range,
                "a list [low, high] of two numbers with low < high: the range of the input values")
_INTERPOLATION = ((str,), "bilinear", lambda v: v in ("bilinear", "nearest"), "'bilinear' or 'nearest'")
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
    "rand_augment": {
        "value_range": _VALUE_RANGE,
        "num_ops": ((int,), 2, lambda v: v >= 1, "an integer >= 1"),
        "factor": ((int, float), 0.5, *_FRACTION),
        "interpolation": _INTERPOLATION,
    },
    "aug_mix": {
        "value_range": _VALUE_RANGE,
        "num_chains": ((int,), 3, lambda v: v >= 1, "an integer >= 1"),
        "chain_depth": ((int,), 3, lambda v: v >= 1, "an integer >= 1"),
        "factor": ((int, float), 0.3, *_FRACTION),
        "alpha": ((int, float), 1.0, *_SIGMA),
        "all_ops": ((bool,), True, lambda v: True, "true or false"),
        "interpolation": _INTERPOLATION,
    },
    "random_erasing": {
        "p": ((int, float), 0.5, *_FRACTION),
        "scale": ((list, tuple), [0.02, 0.33], _area_range,
                  "a list [low, high] of area fractions with 0 < low <= high <= 1"),
        "fill_value": ((int, float, type(None)), None, lambda v: v is None or _number(v),
                       "a number, or null for Gaussian noise"),
        "value_range": _VALUE_RANGE,
    },
    "jitter": {"sigma": ((int, float), 0.03, *_SIGMA)},
    "scaling": {"sigma": ((int, float), 0.1, *_SIGMA)},
    "magnitude_warp": {"sigma": ((int, float), 0.2, *_SIGMA), "knots": _KNOTS},
    "time_warp": {"sigma": ((int, float), 0.2, *_SIGMA), "knots": _KNOTS},
    "window_slice": {"ratio": ((int, float), 0.9, lambda v: 0 < v <= 1, "a number in (0, 1]")},
}
SPATIAL = ("random_translation", "random_flip", "random_crop", "cutmix")
MIXING = ("mixup", "cutmix")
IMAGE = ("rand_augment", "aug_mix", "random_erasing")
SERIES = ("jitter", "scaling", "magnitude_warp", "time_warp", "window_slice")
_KERAS_LAYERS = {"rand_augment": "RandAugment", "aug_mix": "AugMix", "random_erasing": "RandomErasing"}


class Augmentation:
    """A list of augmentation steps applied, in order, to training batches only.

    Steps (each a mapping with `type` and its arguments):

    - `noise`: adds Gaussian noise, `stddev` (> 0, in raw input units, since
      normalization happens inside the model; defaults to 0.1).
    - `random_translation`: `keras.layers.RandomTranslation` with `height_factor`,
      `width_factor` (fractions in [0, 1]; default 0.1) and `fill_mode` (default
      "reflect").
    - `random_flip`: `keras.layers.RandomFlip`, `mode` (default "horizontal"). Both
      layers draw from the batch seed (see `kerasopt._keras_compat.stateless_preprocessing`),
      so a batch is augmented the same way in a resumed run.
    - `random_crop`: zero-pads each side by `padding` (default 4) and crops back to the
      input size at a random place drawn per sample (the CIFAR recipe of He et al.,
      2016), so the input shape never changes. Written with stateless TensorFlow ops
      rather than `keras.layers.RandomCrop`, which in Keras 3.15 draws one crop offset
      per batch, with the row and column offsets from the same seed.
    - `mixup` (Zhang et al., 2018) with `alpha` (default 0.2) and `cutmix` (Yun et al.,
      2019) with `alpha` (default 1.0): see `kerasopt.data.mixing`. They make labels
      soft, so the pipeline then carries one-hot labels and the loss must be
      categorical crossentropy (`soft_labels` is True). Classification only; at most one.

    - `rand_augment` (Cubuk et al., 2020), `aug_mix` (Hendrycks et al., 2020) and
      `random_erasing` (Zhong et al., 2020): Keras's `RandAugment`, `AugMix` and
      `RandomErasing` layers with their own arguments (`value_range`, the range of the
      raw input values, defaults to [0, 255] as in Keras and must hold the training
      data). `random_erasing` takes `p`, the probability that an image is erased,
      passed to Keras as `factor=(p, p)` (a single Keras `factor` f erases with
      probability f / 2), `scale` (the erased area's fraction of the image: Keras draws
      `u, v ~ U(scale)` and erases `sqrt(u) W` by `sqrt(v) H`, so the area fraction
      `sqrt(uv)` lies in `scale`) and `fill_value` (a number, clipped to `value_range`,
      or null: Keras's noise `N(0, high^2)` clipped to `value_range`). The layers' random
      draws are folded from the batch seed, so they are reproducible like the rest.
    - Time series (`kerasopt.data.series_augmentation`, Um et al., 2017; Le Guennec et
      al., 2016): `jitter` (`sigma`, default 0.03), `scaling` (`sigma`, default 0.1),
      `magnitude_warp` and `time_warp` (`sigma`, default 0.2; `knots`, default 4) and
      `window_slice` (`ratio`, default 0.9).

    Spatial steps (`random_*`, `cutmix`) need channels-last images `(h, w, c)` or
    sequences `(steps, c)`; a sequence is treated as a one-row image (only horizontal
    moves and flips). Keras's image layers need images `(h, w, c)`; the time-series
    steps need series `(steps, c)` or `(steps,)`. Noise and mixup work on any input shape.

    Args:
        specs: The steps, e.g. `[{"type": "noise", "stddev": 0.1}]`. Defaults to `()`.
        input_shape: The shape of one sample. Defaults to `()`.
        task: "classification" or "regression". Defaults to `"classification"`.
        seed: Seeds the Keras layers. Defaults to `0`.

    Raises:
        DataError: For an unknown type or argument, a bad value, a spatial step on flat
            inputs, an image step on series or a series step on images, mixing on
            regression, or two mixing steps.
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
            if kind in IMAGE and len(self.input_shape) != 3:
                raise DataError(f"augmentation[{i}] type {kind!r} needs images (h, w, c); the "
                                f"inputs have shape {self.input_shape}. For series use "
                                f"{', '.join(SERIES)}.")
            if kind in SERIES and (len(self.input_shape) not in (1, 2) or self.input_shape[0] < 2):
                raise DataError(f"augmentation[{i}] type {kind!r} needs time series (steps, c) "
                                f"or (steps,) with at least 2 steps; the inputs have shape "
                                f"{self.input_shape}. For images use {', '.join(IMAGE)}.")
            if kind == "window_slice" and window_length(self.input_shape[0], self.specs[i]["ratio"]) < 2:
                raise DataError(f"augmentation[{i}] window_slice keeps ceil(ratio * steps) steps, "
                                f"which must be at least 2; the series have "
                                f"{self.input_shape[0]} steps. Received: "
                                f"ratio={self.specs[i]['ratio']!r}.")
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
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types) \
                    or not ok(value):
                raise DataError(f"{where} ({kind}) argument `{name}` must be {allowed}. "
                                f"Received: {name}={value!r}.")
            resolved[name] = value
        return resolved

    def _layer(self, spec: dict[str, Any], seed: int) -> Any:
        import keras

        from kerasopt._keras_compat import stateless_preprocessing

        kind = spec["type"]
        if kind == "random_translation":
            height = spec["height_factor"] if len(self.input_shape) == 3 else 0.0
            return stateless_preprocessing(keras.layers.RandomTranslation(
                height, spec["width_factor"], fill_mode=spec["fill_mode"], seed=seed))
        if kind == "random_flip":
            return stateless_preprocessing(keras.layers.RandomFlip(spec["mode"], seed=seed))
        if kind in IMAGE:
            arguments = {k: v for k, v in spec.items() if k not in ("type", "p")}
            arguments["value_range"] = tuple(spec["value_range"])
            if kind == "random_erasing":
                arguments.update(factor=(spec["p"], spec["p"]), scale=tuple(spec["scale"]))
            return stateless_preprocessing(getattr(keras.layers, _KERAS_LAYERS[kind])(**arguments, seed=seed))
        return None

    def check_values(self, x: Any) -> None:
        """Check that the training inputs lie in each image step's `value_range`.

        Args:
            x: The training inputs.

        Raises:
            DataError: When a value falls outside a step's `value_range`.
        """
        for i, spec in enumerate(self.specs):
            if "value_range" in spec and len(x):
                low, high = float(x.min()), float(x.max())
                if low < spec["value_range"][0] or high > spec["value_range"][1]:
                    raise DataError(f"augmentation[{i}] ({spec['type']}) argument `value_range` "
                                    f"must hold the training inputs, which lie in [{low:g}, "
                                    f"{high:g}]. Received: value_range={list(spec['value_range'])}.")

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
                x = series_augmentation.jitter(x, spec["stddev"], step_seed)  # the same draw, any shape
            elif kind == "mixup":
                x, y = mixing.mixup(x, y, float(spec["alpha"]), step_seed)
            elif kind == "cutmix":
                x, y = mixing.cutmix(x, y, float(spec["alpha"]), step_seed)
            elif kind == "random_crop":
                x = self._crop(x, spec["padding"], step_seed)
            elif kind in IMAGE:
                x = layer(x, step_seed)
            elif kind in SERIES:
                x = self._series(x, spec, step_seed)
            else:
                sequence = len(self.input_shape) == 2
                x = layer(x[:, None] if sequence else x, step_seed)
                x = x[:, 0] if sequence else x
        return x, y

    def _series(self, x: Any, spec: dict[str, Any], seed: Any) -> Any:
        """One time-series step on `(batch, steps, c)`, or `(batch, steps)` seen as one channel."""
        arguments = {k: v for k, v in spec.items() if k != "type"}
        flat = len(self.input_shape) == 1
        x = getattr(series_augmentation, spec["type"])(x[..., None] if flat else x, **arguments, seed=seed)
        return x[..., 0] if flat else x

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
