"""`FeatureAdapter`: map student features onto the teacher's width and size (FitNets regressor)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerasopt.registry import register

_PROJECTIONS = {2: keras.layers.Dense, 3: keras.layers.Conv1D, 4: keras.layers.Conv2D,
                5: keras.layers.Conv3D}


@register("layer")
class FeatureAdapter(keras.layers.Layer):
    """Project features to `width` channels (1x1) and resample them to `size`, channels last.

    The trainable regressor of FitNets (Romero et al. 2015, "FitNets: Hints for Thin Deep
    Nets", section 2.2), placed on the student's hint layer so its features can be compared
    with the teacher's: a `Dense(width)` for vectors `(batch, channels)`, a 1x1
    `Conv1D/2D/3D(width)` for sequences and feature maps `(batch, *spatial, channels)`.
    With `size`, the projected features are then resized to the teacher's spatial
    (or temporal) dimensions by bilinear interpolation with antialiasing (so downsampling
    averages); sequences (rank 3) and 2D maps (rank 4) can be resized.

    :class:`Distiller` builds one adapter per :class:`FeatureDistillation`; it is trained
    with the student and lives in the distiller, never in the student, so it is dropped
    when the student is exported. With neither `width` nor `size` it passes features
    through and has no weights.

    Args:
        width: Output channels of the projection, or None for no projection. Defaults to
            `None`.
        size: Target spatial dimensions (one for sequences, two for maps), or None to keep
            them. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, ...).

    Raises:
        ValueError: If `width` is not a positive integer or None, `size` is not a sequence
            of positive integers or None; at build, if the input rank cannot take them.

    Example:
        >>> import numpy as np
        >>> adapter = FeatureAdapter(width=8, size=[10])
        >>> tuple(adapter(np.zeros((2, 5, 3), "float32")).shape)
        (2, 10, 8)
    """

    def __init__(self, width: int | None = None, size: Sequence[int] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
            raise ValueError(f"`width` must be a positive integer or None. Received: width={width!r}")
        if size is not None and (isinstance(size, str) or not isinstance(size, Sequence) or not size
                                 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                                            for d in size)):
            raise ValueError("`size` must be None or a list of positive integers (the target spatial "
                             f"dimensions). Received: size={size!r}")
        self.width = width
        self.size = None if size is None else list(size)
        self.projection: keras.layers.Layer | None = None

    def build(self, input_shape: Any) -> None:
        """Create the projection for inputs of this shape."""
        rank = len(input_shape)
        if self.width is not None:
            if rank not in _PROJECTIONS:
                raise ValueError(
                    f"FeatureAdapter {self.name!r} projects features of rank 2 (vectors), 3, 4 or 5 "
                    f"(channels-last sequences and maps). Received: input shape {tuple(input_shape)}")
            layer = _PROJECTIONS[rank]
            self.projection = (layer(self.width, name="projection") if rank == 2
                               else layer(self.width, 1, name="projection"))
            self.projection.build(input_shape)
        if self.size is not None and (rank not in (3, 4) or len(self.size) != rank - 2):
            raise ValueError(
                f"FeatureAdapter {self.name!r} resizes sequences (rank 3, size of length 1) and 2D "
                f"maps (rank 4, size of length 2). Received: input shape {tuple(input_shape)} "
                f"with size={self.size}")

    def call(self, inputs: Any) -> Any:
        """Project, then resize."""
        x = inputs if self.projection is None else self.projection(inputs)
        if self.size is None:
            return x
        if len(self.size) == 1:  # a sequence, resized as an image of width 1
            x = ops.image.resize(ops.expand_dims(x, 2), (self.size[0], 1), antialias=True,
                                 data_format="channels_last")
            return ops.squeeze(x, 2)
        return ops.image.resize(x, tuple(self.size), antialias=True, data_format="channels_last")

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        """The input shape with `width` channels and `size` spatial dimensions."""
        shape = list(input_shape)
        if self.width is not None:
            shape[-1] = self.width
        if self.size is not None:
            shape[1:-1] = self.size
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (with the base layer's)."""
        return {**super().get_config(), "width": self.width, "size": self.size}
