"""`PruneLowMagnitude`: a layer wrapper that holds a pruning mask for the layer's kernel."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerasopt._backend import require_tensorflow
from kerasopt.compression.masking import attach_mask
from kerasopt.compression.pruning import _layers, _masks
from kerasopt.compression.pruning.polynomial_decay import PolynomialDecay
from kerasopt.compression.pruning.pruning_schedule import PruningSchedule
from kerasopt.registry import register
from kerasopt.schedules._common import check_choice

STRUCTURES = ("unstructured", "n:m", "block")
SCOPES = ("layer", "global")


def default_schedule() -> PolynomialDecay:
    """The schedule used when none is given: 0 to 50% sparsity over steps 0-1000, every 100."""
    return PolynomialDecay(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=1000)


def check_structure(structure: Any, n: Any, m: Any, block_shape: Any, scope: Any) -> None:
    """Validate the structure arguments shared by the wrapper and `prune_low_magnitude`."""
    check_choice("structure", structure, STRUCTURES)
    check_choice("scope", scope, SCOPES)
    for name, value in (("n", n), ("m", m)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if not 0 < n < m:
        raise ValueError(f"`n` and `m` must satisfy 0 < n < m (keep n of every m). "
                         f"Received: n={n!r}, m={m!r}")
    if (not isinstance(block_shape, (tuple, list)) or len(block_shape) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
            for v in block_shape)):
        raise ValueError("`block_shape` must be two integers >= 1, e.g. (1, 4). "
                         f"Received: block_shape={block_shape!r}")


def check_kernel_shape(layer: Any, shape: tuple[int, ...], structure: str, m: int) -> None:
    """Raise unless `layer`'s kernel, of this `shape`, can take the pruning `structure`."""
    rank = len(shape)
    if structure == "block" and rank < 2:
        raise ValueError(f"Block pruning needs a kernel of rank >= 2; layer {layer.name!r} "
                         f"has a kernel of shape {shape}.")
    if structure == "n:m":
        axis = _layers.input_channel_axis(layer, rank)
        if axis is None or shape[axis] % m:
            length = "no input-channel axis" if axis is None else f"{shape[axis]} input channels"
            raise ValueError(
                f"N:M pruning groups m={m} consecutive input channels, but layer "
                f"{layer.name!r} (kernel shape {shape}) has {length}; the count must be a "
                "multiple of m. Leave this layer out or use another structure.")


@register("layer")
class PruneLowMagnitude(keras.layers.Wrapper):
    """Prune the kernel of the wrapped layer by magnitude, through a mask held as layer state.

    The wrapper owns two non-trainable weights: `mask` (0s and 1s, the kernel's shape)
    and `pruning_step` (int64, the number of training batches already run with pruning).
    On build it attaches the mask to the kernel as a constraint (see
    `kerasopt.compression.masking`), so every optimizer update, whatever momentum or Adam
    state it carries, leaves pruned weights at exactly zero. Both weights are saved with
    the model (`save_weights`, `.keras`) and the constraint is re-attached when the
    wrapper is rebuilt on load. `call` runs the wrapped layer unchanged.

    Masks change only when :meth:`update_mask` (or a joint update across layers) runs,
    which :class:`~kerasopt.compression.pruning.UpdatePruning` does at the steps the
    schedule gates. A mask is recomputed from the current magnitudes, keeping the largest
    ones (weights pruned earlier are zero, so they stay pruned while sparsity rises):

    - `"unstructured"`: prune the `round`-ed fraction `sparsity` of single weights;
    - `"n:m"`: in every run of `m` consecutive weights along the input-channel axis, keep
      the `n` largest (sparsity `(m - n) / m`; the schedule only gates when). The axis
      length must be a multiple of `m`;
    - `"block"`: score each `block_shape` block of the kernel's last two axes (input and
      output channels for Dense and convolutions) by its mean magnitude and prune whole
      blocks.

    Supported layers: Dense, EinsumDense, Conv1D/2D/3D, DepthwiseConv1D/2D (the depthwise
    kernel) and SeparableConv1D/2D (the pointwise kernel), matched by exact type (not
    their subclasses), and any layer with a `get_prunable_weights()` method returning the
    one weight to prune (tfmot's `PrunableLayer` protocol); see
    :mod:`kerasopt.compression.layers`.

    Args:
        layer: The layer to prune.
        pruning_schedule: A `PruningSchedule`, or None for
            `PolynomialDecay(0.0, 0.5, begin_step=0, end_step=1000)`. Defaults to `None`.
        structure: `"unstructured"`, `"n:m"` or `"block"`. Defaults to `"unstructured"`.
        n: Weights kept per group with `"n:m"`, 0 < n < m. Defaults to `2`.
        m: Group length with `"n:m"`. Defaults to `4`.
        block_shape: Block shape `(rows, cols)` with `"block"`. Defaults to `(1, 4)`.
        scope: `"layer"` (rank within this kernel) or `"global"` (rank jointly with every
            other global-scope wrapper of the model that has the same schedule and
            structure). Ignored with `"n:m"`. Defaults to `"layer"`.
        **kwargs: Base layer arguments (`name` defaults to `prune_low_magnitude_<layer>`).

    Raises:
        ValueError: If the layer is not supported (a subclass of a supported type that does
            not opt in included), or an argument is out of range.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> layer = PruneLowMagnitude(keras.layers.Dense(4), structure="n:m", n=1, m=2)
        >>> layer.build((None, 8))
        >>> layer.update_mask(0.5)
        >>> float(keras.ops.mean(layer.mask))
        0.5
    """

    def __init__(self, layer: keras.layers.Layer, pruning_schedule: PruningSchedule | None = None,
                 structure: str = "unstructured", n: int = 2, m: int = 4,
                 block_shape: Sequence[int] = (1, 4), scope: str = "layer", **kwargs: Any) -> None:
        require_tensorflow("kerasopt.compression.pruning.PruneLowMagnitude")
        if not _layers.is_prunable(layer):
            raise ValueError(_layers.unsupported_message(layer))
        if pruning_schedule is not None and not isinstance(pruning_schedule, PruningSchedule):
            raise ValueError("`pruning_schedule` must be a PruningSchedule (ConstantSparsity, "
                             f"PolynomialDecay, ...) or None. Received: pruning_schedule="
                             f"{pruning_schedule!r}")
        check_structure(structure, n, m, block_shape, scope)
        kwargs.setdefault("name", f"prune_low_magnitude_{layer.name}")
        super().__init__(layer, **kwargs)
        self.pruning_schedule = pruning_schedule
        self.schedule = pruning_schedule if pruning_schedule is not None else default_schedule()
        self.structure = structure
        self.n = int(n)
        self.m = int(m)
        self.block_shape = tuple(int(v) for v in block_shape)
        self.scope = scope
        self._check_layer_mode()

    def _check_layer_mode(self) -> None:
        if getattr(self.layer, "lora_enabled", False) or getattr(
                self.layer, "quantization_mode", None) is not None:
            raise ValueError(f"Layer {self.layer.name!r} has LoRA or quantization enabled; its "
                             "effective kernel is not the stored one, so it cannot be pruned. "
                             "Prune the float layer first, then apply LoRA or quantize.")

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        self._check_layer_mode()
        kernel = self.pruned_weight
        check_kernel_shape(self.layer, tuple(kernel.shape), self.structure, self.m)
        self.mask = self.add_weight(name="mask", shape=tuple(kernel.shape), initializer="ones",
                                    dtype=kernel.dtype, trainable=False)
        self.pruning_step = self.add_weight(name="pruning_step", shape=(), initializer="zeros",
                                            dtype="int64", trainable=False)
        attach_mask(kernel, self.mask)

    @property
    def pruned_weight(self) -> Any:
        """The wrapped layer's pruned variable (its kernel, or the one weight its
        `get_prunable_weights()` returns; built layers only)."""
        return _layers.pruned_weight(self.layer)

    def call(self, inputs: Any) -> Any:
        return self.layer(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def pruning_scores(self) -> Any:
        """Scores of the pruning units: `|w|` (unstructured) or mean `|w|` per block (block)."""
        magnitude = ops.abs(ops.convert_to_tensor(self.pruned_weight))
        if self.structure == "block":
            return _masks.block_scores(magnitude, self.block_shape)
        if self.structure == "unstructured":
            return magnitude
        raise ValueError("N:M masks are chosen within groups, not from a ranking of scores.")

    def apply_unit_mask(self, keep: Any) -> None:
        """Set the mask from a 0/1 tensor over pruning units (weights, or blocks)."""
        if self.structure == "block":
            keep = _masks.expand_blocks(keep, self.block_shape, tuple(self.pruned_weight.shape))
        self.apply_mask(keep)

    def apply_mask(self, mask: Any) -> None:
        """Store a 0/1 mask of the kernel's shape and zero the kernel where it is 0."""
        kernel = self.pruned_weight
        mask = ops.cast(mask, self.mask.dtype)
        self.mask.assign(mask)
        kernel.assign(ops.multiply(kernel, ops.cast(mask, kernel.dtype)))

    def update_mask(self, sparsity: float) -> None:
        """Recompute the mask from the kernel's current magnitudes.

        Args:
            sparsity: Target fraction of pruned weights (or blocks), in [0, 1); ignored by
                `"n:m"`, whose sparsity is `(m - n) / m`.
        """
        if self.structure == "n:m":
            kernel = ops.convert_to_tensor(self.pruned_weight)
            axis = _layers.input_channel_axis(self.layer, len(kernel.shape))
            self.apply_mask(_masks.n_of_m(ops.abs(kernel), self.n, self.m, axis))
        else:
            _masks.prune_jointly([self], sparsity)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (the schedule and layer serialized)."""
        schedule = self.pruning_schedule
        return {
            **super().get_config(),
            "pruning_schedule": None if schedule is None
            else keras.saving.serialize_keras_object(schedule),
            "structure": self.structure, "n": self.n, "m": self.m,
            "block_shape": list(self.block_shape), "scope": self.scope,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> PruneLowMagnitude:
        """Rebuild the wrapper (and its layer and schedule) from `get_config()`."""
        config = dict(config)
        if config.get("pruning_schedule") is not None:
            config["pruning_schedule"] = keras.saving.deserialize_keras_object(
                config["pruning_schedule"], custom_objects=custom_objects)
        return super().from_config(config, custom_objects=custom_objects)
