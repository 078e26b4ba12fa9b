"""Built-in architectures, the layer-list builder, and loading/freezing/LoRA for transfer learning."""

from kerasopt.models.build import build_model as build_model
from kerasopt.models.errors import ModelError as ModelError
from kerasopt.models.lora import apply_lora as apply_lora
from kerasopt.models.lora import merged_layer as merged_layer
from kerasopt.models.stochastic_depth import StochasticDepth as StochasticDepth
from kerasopt.models.transfer import load_model_file as load_model_file
from kerasopt.models.transfer import replace_head as replace_head
from kerasopt.models.transfer import set_trainable as set_trainable

__all__ = ["ModelError", "StochasticDepth", "apply_lora", "build_model", "load_model_file", "merged_layer",
           "replace_head", "set_trainable"]
