"""Mask selection of `PruneLowMagnitude` against NumPy references, structure by structure."""

import keras
import numpy as np
import pytest

from kerasopt.compression.masking import MaskConstraint
from kerasopt.compression.pruning import PruneLowMagnitude


def wrapped(layer, input_shape, seed=0, **kwargs):
    wrapper = PruneLowMagnitude(layer, **kwargs)
    wrapper.build(input_shape)
    rng = np.random.default_rng(seed)
    kernel = wrapper.pruned_weight
    kernel.assign(rng.normal(size=kernel.shape).astype("float32"))  # no ties (continuous)
    return wrapper


def numpy_of(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable))


def reference_unstructured(w, sparsity):
    """Zero the size - round(size * (1 - sparsity)) smallest |w| (the count tfmot keeps)."""
    keep = int(round(w.size * (1 - sparsity)))
    order = np.argsort(np.abs(w).ravel())
    mask = np.ones(w.size, "float32")
    mask[order[: w.size - keep]] = 0
    return mask.reshape(w.shape)


def reference_n_m(w, n, m, axis):
    moved = np.moveaxis(np.abs(w), axis, -1)
    groups = moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)
    ranks = np.argsort(np.argsort(-groups, axis=-1), axis=-1)  # 0 = largest in its group
    keep = (ranks < n).astype("float32").reshape(moved.shape)
    return np.moveaxis(keep, -1, axis)


def reference_block(w, block_shape, sparsity):
    """Mean |w| per block over the last two axes (partial edge blocks use their own size)."""
    a, b = block_shape
    rows, cols = w.shape[-2:]
    lead = w.shape[:-2]
    starts = [(i, j) for i in range(0, rows, a) for j in range(0, cols, b)]
    flat = np.abs(w).reshape(-1, rows, cols)
    blocks = []  # (score, lead index, i, j)
    for k in range(flat.shape[0]):
        for i, j in starts:
            blocks.append((flat[k, i:i + a, j:j + b].mean(), k, i, j))
    keep = int(round(len(blocks) * (1 - sparsity)))
    mask = np.ones(flat.shape, "float32")
    for _, k, i, j in sorted(blocks)[: len(blocks) - keep]:
        mask[k, i:i + a, j:j + b] = 0
    return mask.reshape(*lead, rows, cols)


@pytest.mark.parametrize("layer, shape", [
    (keras.layers.Dense(7), (None, 11)),
    (keras.layers.Conv2D(5, 3), (None, 8, 8, 3)),
    (keras.layers.Conv1D(4, 2, groups=2), (None, 6, 4)),
    (keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5)), (None, 3, 6)),
])
@pytest.mark.parametrize("sparsity", [0.0, 0.37, 0.8, 0.95])
def test_unstructured_mask_zeroes_exactly_the_smallest(layer, shape, sparsity):
    layer = keras.layers.deserialize(keras.layers.serialize(layer))  # fresh per case
    wrapper = wrapped(layer, shape)
    w = numpy_of(wrapper.pruned_weight)
    wrapper.update_mask(sparsity)
    want = reference_unstructured(w, sparsity)
    mask = numpy_of(wrapper.mask)
    np.testing.assert_array_equal(mask, want)
    assert mask.size - mask.sum() == w.size - round(w.size * (1 - sparsity))
    kernel = numpy_of(wrapper.pruned_weight)
    np.testing.assert_array_equal(kernel, w * want)  # kept entries untouched, others zero
    if 0 < mask.sum() < mask.size:
        assert np.abs(w[mask == 1]).min() > np.abs(w[mask == 0]).max()


@pytest.mark.parametrize("layer, shape, axis", [
    (keras.layers.Dense(6), (None, 8), 0),
    (keras.layers.Conv2D(3, 3), (None, 5, 5, 8), 2),
    (keras.layers.Conv3D(2, 2), (None, 3, 3, 3, 4), 3),
    (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 5, 5, 8), 2),
    (keras.layers.SeparableConv1D(4, 3, depth_multiplier=2), (None, 6, 4), 1),  # pointwise (1, 8, 4)
    (keras.layers.EinsumDense("abcd,cde->abe", output_shape=(None, 3)), (None, 2, 3, 8), 1),
])
@pytest.mark.parametrize("n, m", [(2, 4), (1, 2), (3, 4)])
def test_n_m_mask_keeps_the_n_largest_of_each_group(layer, shape, axis, n, m):
    layer = keras.layers.deserialize(keras.layers.serialize(layer))
    wrapper = wrapped(layer, shape, structure="n:m", n=n, m=m)
    w = numpy_of(wrapper.pruned_weight)
    wrapper.update_mask(0.123)  # the schedule's sparsity is ignored by N:M
    mask = numpy_of(wrapper.mask)
    np.testing.assert_array_equal(mask, reference_n_m(w, n, m, axis))
    groups = np.moveaxis(mask, axis, -1).reshape(-1, m)
    assert np.all(groups.sum(axis=-1) == n)  # exactly m - n zeros in every group
    np.testing.assert_array_equal(numpy_of(wrapper.pruned_weight), w * mask)


def test_separable_conv_prunes_only_the_pointwise_kernel():
    wrapper = wrapped(keras.layers.SeparableConv2D(4, 3), (None, 6, 6, 4))
    wrapper.update_mask(0.5)
    assert wrapper.pruned_weight.name == "pointwise_kernel"
    assert np.count_nonzero(numpy_of(wrapper.layer.depthwise_kernel)) == 3 * 3 * 4
    assert isinstance(wrapper.pruned_weight.constraint, MaskConstraint)
    assert wrapper.layer.depthwise_kernel.constraint is None


@pytest.mark.parametrize("layer, shape, block_shape", [
    (keras.layers.Dense(8), (None, 6), (1, 4)),
    (keras.layers.Dense(8), (None, 8), (4, 1)),
    (keras.layers.Dense(6), (None, 5), (2, 4)),  # partial blocks on both edges
    (keras.layers.Conv2D(8, 2), (None, 4, 4, 4), (2, 2)),
])
@pytest.mark.parametrize("sparsity", [0.25, 0.6])
def test_block_mask_prunes_whole_blocks_with_the_lowest_mean(layer, shape, block_shape, sparsity):
    layer = keras.layers.deserialize(keras.layers.serialize(layer))
    wrapper = wrapped(layer, shape, structure="block", block_shape=block_shape)
    w = numpy_of(wrapper.pruned_weight)
    wrapper.update_mask(sparsity)
    mask = numpy_of(wrapper.mask)
    np.testing.assert_array_equal(mask, reference_block(w, block_shape, sparsity))
    a, b = block_shape
    rows, cols = w.shape[-2:]
    flat = mask.reshape(-1, rows, cols)
    for i in range(0, rows, a):
        for j in range(0, cols, b):
            block = flat[:, i:i + a, j:j + b]
            assert np.all(block.min(axis=(1, 2)) == block.max(axis=(1, 2)))  # all kept or all zero


def test_pruned_weights_stay_pruned_as_sparsity_rises():
    wrapper = wrapped(keras.layers.Dense(10), (None, 10))
    wrapper.update_mask(0.3)
    first = numpy_of(wrapper.mask)
    wrapper.update_mask(0.6)
    second = numpy_of(wrapper.mask)
    assert np.all(second[first == 0] == 0)
    assert second.size - second.sum() == 60


def test_unsupported_layer_is_refused_with_the_supported_list():
    with pytest.raises(ValueError, match=r"Layer 'rnn' of type keras\.src\..*LSTM cannot be "
                                         r"pruned\. Supported layer types: Dense, EinsumDense, "
                                         r"Conv1D, Conv2D, Conv3D"):
        PruneLowMagnitude(keras.layers.LSTM(3, name="rnn"))
    with pytest.raises(ValueError, match="Conv2DTranspose"):
        PruneLowMagnitude(keras.layers.Conv2DTranspose(3, 2))


@pytest.mark.parametrize("kwargs, match", [
    ({"structure": "2:4"}, r"`structure` must be one of 'unstructured', 'n:m', 'block'. Received: structure='2:4'"),
    ({"n": 4, "m": 4}, r"0 < n < m .* Received: n=4, m=4"),
    ({"n": 0}, r"Received: n=0, m=4"),
    ({"m": 2.0}, r"`m` must be an integer. Received: m=2.0"),
    ({"block_shape": (0, 4)}, r"`block_shape` must be two integers >= 1.* Received: block_shape=\(0, 4\)"),
    ({"block_shape": 4}, r"Received: block_shape=4"),
    ({"scope": "model"}, r"`scope` must be one of 'layer', 'global'. Received: scope='model'"),
    ({"pruning_schedule": 0.5}, r"`pruning_schedule` must be a PruningSchedule .* Received: pruning_schedule=0.5"),
])
def test_wrapper_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PruneLowMagnitude(keras.layers.Dense(2), **kwargs)


def test_n_m_refuses_input_channels_not_a_multiple_of_m():
    wrapper = PruneLowMagnitude(keras.layers.Dense(4, name="head"), structure="n:m", n=2, m=4)
    with pytest.raises(ValueError, match=r"layer 'head' \(kernel shape \(6, 4\)\) has 6 input channels"):
        wrapper.build((None, 6))


def test_lora_layers_are_refused():
    layer = keras.layers.Dense(4)
    layer.build((None, 4))
    layer.enable_lora(2)
    with pytest.raises(ValueError, match="LoRA or quantization"):
        PruneLowMagnitude(layer)
