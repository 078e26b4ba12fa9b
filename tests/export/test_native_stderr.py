"""dropped_stderr_lines: the converter's stray `fully_quantize: ...` line goes, real output stays (issue 19 item 9)."""

import os

import keras
import numpy as np
import pytest

from kerasopt.export.native_stderr import CONVERTER_NOTICE, DELEGATE_NOTICE, dropped_stderr_lines
from kerasopt.export.tflite import export_tflite


def test_only_the_named_lines_are_dropped_in_order_also_when_the_block_raises(capfd):
    capfd.readouterr()
    with dropped_stderr_lines(CONVERTER_NOTICE, DELEGATE_NOTICE):
        os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\n")
        os.write(2, b"E0000 converter.cc:12] a real error\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nlast, without newline")
    assert capfd.readouterr().err == "E0000 converter.cc:12] a real error\nlast, without newline"
    with pytest.raises(RuntimeError, match="boom"), dropped_stderr_lines(CONVERTER_NOTICE):
        os.write(2, b"fully_quantize: 1\nwritten before the failure\n")
        raise RuntimeError("boom")
    assert capfd.readouterr().err == "written before the failure\n"
    os.write(2, b"fd 2 is restored\n")
    assert capfd.readouterr().err == "fd 2 is restored\n"


def test_int8_export_calibrated_by_the_converter_prints_no_stray_line(tmp_path, capfd):
    """A model without Dense/Conv layers is calibrated by the converter itself, whose C++
    quantizer printed `fully_quantize: 0, inference_type: 6, ...` on 5720822."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Activation("tanh")])
    data = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    capfd.readouterr()
    info = export_tflite(model, tmp_path / "m.tflite", quantization="int8", representative_data=data)
    assert info["int8_ranges"] == "converter"
    assert "fully_quantize" not in capfd.readouterr().err
