"""The time-series architectures `fcn` and `resnet1d`, and `kernel_size` on the built-in `resnet`."""

import pytest

from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError


def bn(channels):
    """A BatchNormalization layer's parameters: gamma, beta, moving mean, moving variance."""
    return 4 * channels


@pytest.mark.parametrize("classes", [2, 5])
def test_fcn_parameter_count_by_hand(classes):
    # Wang et al. 2017 / dl-4-tsc fcn.py on one input channel: Conv1D 128x8, 256x5, 128x3, each
    # followed by batch norm, global average pooling, Dense(classes). The reference's conv
    # biases (128 + 256 + 128) are left out here: batch norm's offset replaces them.
    model = build_model({"architecture": "fcn"}, input_shape=(30, 1), num_classes=classes)
    convs = 8 * 1 * 128 + 5 * 128 * 256 + 3 * 256 * 128
    norms = bn(128) + bn(256) + bn(128)
    head = 128 * classes + classes
    assert model.count_params() == convs + norms + head == 265_216 + 129 * classes
    assert model.count_params() + (128 + 256 + 128) == 265_728 + 129 * classes  # the reference's
    assert [model.get_layer(f"conv_{i}").kernel_size for i in (1, 2, 3)] == [(8,), (5,), (3,)]
    assert model.get_layer("conv_3").output.shape[1:] == (30, 128)  # "same" padding, no pooling
    assert model.get_layer("head").activation.__name__ == "softmax"


@pytest.mark.parametrize("classes", [2, 5])
def test_resnet1d_parameter_count_by_hand(classes):
    # dl-4-tsc resnet.py on one input channel: blocks of 64, 128, 128 filters, each Conv1D 8/5/3
    # + batch norm; shortcut 1x1 conv + batch norm where channels change (blocks 1 and 2), batch
    # norm alone in block 3.
    model = build_model({"architecture": "resnet1d"}, input_shape=(30, 1), num_classes=classes)
    block1 = (8 * 1 * 64 + 5 * 64 * 64 + 3 * 64 * 64) + 1 * 1 * 64 + 4 * bn(64)
    block2 = (8 * 64 * 128 + 5 * 128 * 128 + 3 * 128 * 128) + 1 * 64 * 128 + 4 * bn(128)
    block3 = (8 * 128 * 128 + 5 * 128 * 128 + 3 * 128 * 128) + 4 * bn(128)
    head = 128 * classes + classes
    assert model.count_params() == block1 + block2 + block3 + head == 505_408 + 129 * classes
    names = {layer.name for layer in model.layers}
    assert {"block1_proj", "block2_proj", "block3_shortcut_bn"} <= names and "block3_proj" not in names


def test_timeseries_options_change_widths_and_kernels():
    model = build_model({"architecture": "fcn", "filters": [4, 6], "kernel_size": 3, "normalization": "none"},
                        input_shape=(10, 2), num_classes=3)
    assert model.count_params() == (3 * 2 * 4 + 4) + (3 * 4 * 6 + 6) + (6 * 3 + 3)
    model = build_model({"architecture": "resnet1d", "filters": [4], "kernel_size": [7, 5, 1],
                         "normalization": "none"}, input_shape=(10, 2), num_classes=3)
    convs = (7 * 2 * 4 + 4) + (5 * 4 * 4 + 4) + (1 * 4 * 4 + 4) + (1 * 2 * 4 + 4)  # + 1x1 projection
    assert model.count_params() == convs + (4 * 3 + 3)
    with pytest.raises(ModelError, match="kernel_size"):
        build_model({"architecture": "resnet1d", "kernel_size": [8, 5]}, input_shape=(10, 1), num_classes=2)
    with pytest.raises(ModelError, match=r"\(steps, channels\)"):
        build_model({"architecture": "fcn"}, input_shape=(8, 8, 1), num_classes=2)


def test_resnet_kernel_size_option():
    spec = {"architecture": "resnet", "filters": 4, "blocks_per_stage": [1], "normalization": "none",
            "kernel_size": 7}
    model = build_model(spec, input_shape=(16, 2), num_classes=3)
    stem, block = 7 * 2 * 4 + 4, 2 * (7 * 4 * 4 + 4)
    assert model.count_params() == stem + block + (4 * 3 + 3)
    assert model.get_layer("stage1_block1_conv2").kernel_size == (7,)
    spec["kernel_size"] = 3  # the paper's (and the old, fixed) width: the same as leaving it out
    del spec["kernel_size"]
    assert build_model(spec, input_shape=(16, 2), num_classes=3).count_params() == (
        3 * 2 * 4 + 4 + 2 * (3 * 4 * 4 + 4) + 4 * 3 + 3)
