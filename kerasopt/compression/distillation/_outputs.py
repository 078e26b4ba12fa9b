"""What a model outputs (logits or probabilities) and how to get logits from it.

Private to `kerasopt.compression.distillation`.

Probabilities are turned into logits by their logarithm, `log(max(p, 1e-30))`. For a
softmax output `p = softmax(z)`, `log p = z - logsumexp(z)`: the logits shifted by one
constant per sample, and softmax is invariant to such a shift, so `softmax(log(p) / T)`
equals `softmax(z / T)` for every temperature. This is exact up to float32 rounding as long
as no probability underflows, i.e. for logit gaps below about 69 (the floor); a class
beyond that gets probability `exp(-69 / T)` of the sample's largest one at temperature `T`
instead of less. The same route works for every model (wrapped, quantization-aware or
subclassed layers alike); no second logits model is built.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.compression.quantization import QuantizeWrapper

OUTPUT_KINDS = ("auto", "logits", "probabilities")
"""The values of `teacher_output` / `student_output`."""

PROBABILITY_FLOOR = 1e-30
"""Probabilities are clipped to this before the logarithm (float32 keeps it normal)."""


def output_layer(model: keras.Model) -> keras.layers.Layer | None:
    """The layer producing a Functional or Sequential model's single output, if it can be told."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    for layer in reversed(model.layers):
        if not isinstance(layer, keras.layers.InputLayer) and layer.output is outputs[0]:
            return layer
    return None


def _final_activation(layer: Any) -> str | None:
    while isinstance(layer, keras.layers.Wrapper):  # pruning and QAT wrappers keep the layer inside
        layer = layer.layer
    if isinstance(layer, keras.layers.Softmax):
        return "softmax" if layer.axis in (-1, [-1]) else f"softmax over axis {layer.axis}"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "linear" if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)) else None
    return str(keras.activations.serialize(activation))


def output_kind(model: keras.Model, declared: str, role: str) -> str:
    """`"logits"` or `"probabilities"`: as declared, or told from the model's last layer.

    Raises:
        ValueError: When `"auto"` cannot tell (subclassed model, several outputs, a last
            layer without an activation) or the last activation is neither linear nor a
            softmax over the last axis.
    """
    if declared != "auto":
        return declared
    layer = output_layer(model)
    activation = None if layer is None else _final_activation(layer)
    if activation == "softmax" and role == "student" and isinstance(layer, QuantizeWrapper):
        raise ValueError(
            f"The student's last layer {layer.name!r} is quantization-aware with a softmax inside, so "
            "its probabilities are rounded to 256 levels and most become exactly 0, which blocks the "
            "soft targets' gradient. End the student in a linear Dense followed by "
            "keras.layers.Softmax() before quantize_model (the Softmax stays float), or distill "
            "before quantize_model. Pass student_output='probabilities' to distill it anyway.")
    if activation == "softmax":
        return "probabilities"
    if activation == "linear":
        return "logits"
    if activation is None:
        what = ("has no single output layer whose activation can be read" if layer is None
                else f"ends in layer {layer.name!r} ({type(layer).__name__}), which has no activation")
        raise ValueError(
            f"Cannot tell whether the {role} model {model.name!r} outputs logits or probabilities: it "
            f"{what}. Pass {role}_output='logits' or {role}_output='probabilities'.")
    raise ValueError(
        f"Logits distillation needs class scores: the {role} model {model.name!r} ends in layer "
        f"{layer.name!r} with activation {activation!r}; supported: a linear output (logits) or "
        "a softmax over the last axis (probabilities). To match other outputs (regression, "
        "sigmoid), use FeatureDistillation on the layer before the activation.")


def to_logits(outputs: Any, kind: str) -> Any:
    """Logits (float32) from outputs of the given kind (see the module docstring)."""
    outputs = ops.cast(outputs, "float32")
    if kind == "probabilities":
        return ops.log(ops.maximum(outputs, PROBABILITY_FLOOR))
    return outputs
