"""Quantization-aware training (fake-quant wrappers) and int8 calibration; see README.md."""

from kerasopt.compression.quantization.activation_quantizer import (
    ActivationQuantizer as ActivationQuantizer,
)
from kerasopt.compression.quantization.calibrate_ranges import calibrate_ranges as calibrate_ranges
from kerasopt.compression.quantization.calibrate_ranges import (
    quantize_wrappers as quantize_wrappers,
)
from kerasopt.compression.quantization.calibrate_ranges import range_layers as range_layers
from kerasopt.compression.quantization.fold_batch_norms import fold_batch_norms as fold_batch_norms
from kerasopt.compression.quantization.quantize_model import quantize_model as quantize_model
from kerasopt.compression.quantization.quantize_wrapper import SUPPORTED_LAYERS as SUPPORTED_LAYERS
from kerasopt.compression.quantization.quantize_wrapper import QuantizeWrapper as QuantizeWrapper

__all__ = ["SUPPORTED_LAYERS", "ActivationQuantizer", "QuantizeWrapper", "calibrate_ranges", "fold_batch_norms", "quantize_model",
           "quantize_wrappers", "range_layers"]
