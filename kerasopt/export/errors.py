"""The error raised when a model cannot be exported or verified."""

from __future__ import annotations


class ExportError(ValueError):
    """An export that kerasopt cannot write or verify.

    Raised by the functions of :mod:`kerasopt.export` for a wrong file suffix, an
    unknown quantization mode, missing representative samples for int8, a model
    that needs TensorFlow (Flex/select) or custom ops that the TFLite builtin op set
    lacks (the message names those ops), or a `.tflite` file that the LiteRT
    interpreter cannot run. No file is left under the final name when it is raised.

    Example:
        ```python
        try:
            export_tflite(model, "model.tflite", quantization="int8")
        except ExportError as err:
            print(err)  # int8 needs representative_data
        ```
    """


_RECURRENT_HINT = ("recurrent layers convert to builtin ops only unrolled: rebuild them with unroll=True "
                   "(a fixed sequence length)")


def describe_conversion_failure(text: str, quantization: str, layers: list[tuple[str, str]]) -> str:
    """A short message for a TFLite converter error: the ops, the layers that use them, and what to do.

    Args:
        text: The converter's error text (often kilobytes of MLIR locations).
        quantization: The quantization mode of the failed export.
        layers: `(name, class name)` of every layer of the model, nested ones included;
            the layers whose names appear in the error's op locations are named.

    Returns:
        A message of a few lines.
    """
    import re

    found: dict[str, str] = {}
    for label, kind in (("TF Select ops", "TensorFlow (Flex/select)"), ("Custom ops", "custom")):
        for match in re.finditer(rf"{label}: ([^\n]+)", text):
            for op in match.group(1).split(","):
                found.setdefault(op.strip(), kind)
    for match in re.finditer(r"'tf\.(\w+)' op", text):
        found.setdefault(match.group(1), "TensorFlow")
    by_name = dict(layers)
    culprits: dict[str, str] = {}
    for path in re.findall(r'fused\["\w+:", "([^"@]+)', text):
        for segment in path.split("/"):
            name = segment if segment in by_name else re.sub(r"_\d+$", "", segment)
            if name in by_name and segment != path.split("/")[-1]:
                culprits.setdefault(name, by_name[name])
    where = ", ".join(f"{name} ({cls})" for name, cls in culprits.items())
    recurrent = any(cls in ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D",
                            "ConvLSTM3D") for cls in culprits.values())
    if not found and not culprits:
        errors = [line.strip() for line in text.splitlines() if "error" in line.lower()]
        detail = "; ".join(errors[:2])[:400] if errors else text.strip()[:400]
        return f"TFLite conversion failed (quantization={quantization!r}): {detail}"
    ops = ", ".join(f"{op} ({kind})" for op, kind in found.items()) or "unknown"
    fixes = [_RECURRENT_HINT] if recurrent else ["replace those layers"]
    fixes.append("or export the model as a SavedModel (kerasopt.export.export_saved_model), which runs any "
                 "TensorFlow op")
    subject = f"Layers {where}" if where else "The model"
    return (f"{subject} need ops that the TFLite builtin op set lacks: {ops}. kerasopt exports builtin ops "
            f"only so the file runs on any LiteRT interpreter (quantization={quantization!r}); "
            f"{'; '.join(fixes)}.")
