"""The recipe format: the single source of defaults and cross-field rules.

A recipe is YAML with the top-level keys `name`, `description`, `seed`, `extends` and the
sections `data`, `model`, `training`, `stages`, `compression`, `export` and `runtime`.
`kerasopt schema` prints the JSON Schema generated from these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from kerasopt.recipe.format.fields import Flag, PositiveInt, StrictModel
from kerasopt.recipe.format.schema_compression import Compression
from kerasopt.recipe.format.schema_data import Data
from kerasopt.recipe.format.schema_loggers import MlflowLogger
from kerasopt.recipe.format.schema_model import Model
from kerasopt.recipe.format.schema_sweep import SweepSection
from kerasopt.recipe.format.schema_training import Stage, Training

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class Int4Sensitivity(StrictModel):
    """Keep the layers whose int4 weights alone cost too much, measured one layer at a time."""

    max_drop: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        description="keep a layer at keep_as when int4 in it alone drops validation accuracy (or raises "
                    "MSE) by more than this")


class Int4(StrictModel):
    """int4 weights (ai-edge-quantizer's dynamic int4, run by LiteRT); with `quantization: int4` only."""

    granularity: Literal["channel", "block"] = Field(
        "channel", description="one scale per output channel, or per block_size inputs (Dense only)")
    block_size: Literal[32, 64, 128, 256] = 32
    keep_float: Annotated[int, Field(ge=0)] = Field(
        0, description="keep this many of the most int4-sensitive layers (measured) at keep_as")
    sensitivity: Int4Sensitivity | None = None
    keep_as: Literal["int8", "float"] = Field("int8", description="what kept layers hold")


class TFLite(StrictModel):
    """A TFLite (LiteRT) export, verified by running it on the test split."""

    quantization: Literal["none", "dynamic", "float16", "int8", "int16x8", "int4"] = Field(
        "none", description="none | dynamic (int8 weights) | float16 | int8 (full integer; from the "
        "trained ranges after compression.qat, else calibrated on representative samples) | int16x8 | "
        "int4 (int4 weights, float activations quantized on the fly; needs kerasopt[lowbit])")
    int4: Int4 | None = Field(None, description="int4 options (granularity, mixed precision); with quantization: int4")
    io: Literal["float32", "int8", "uint8"] = Field(
        "float32", description="type of the file's input and output tensors: float32, or int8 / uint8 "
        "(integer-only, for TFLite Micro, Edge TPU and NPU delegates; needs quantization: int8)")
    representative_samples: PositiveInt = Field(
        100, description="training examples used to calibrate int8 quantization")
    verify: Flag = Field(True, description="run the file with the LiteRT interpreter on the test split")
    float_baseline: Flag = Field(
        True, description="when quantizing or compressing, also export the float model (as trained "
        "before any compression stage) as tflite_float for comparison")
    max_accuracy_drop: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.02, description="fail the run (exit 1) when the verified TFLite accuracy is further below "
        "the Keras model's than this (0.02 = 2 points)")
    min_speedup: Annotated[float, Field(gt=0.0)] | None = Field(
        None, description="fail the run (exit 1) when model.tflite is less than this many times faster "
        "than model_float.tflite (median single-thread batch-1 invoke, interleaved rounds)")

    @model_validator(mode="after")
    def _integer_io_needs_int8(self) -> TFLite:
        if self.io != "float32" and self.quantization != "int8":
            raise ValueError(
                f"io: {self.io} (integer input and output) needs quantization: int8; "
                f"received quantization: {self.quantization}. Allowed with quantization "
                f"{self.quantization}: io: float32")
        if self.int4 is not None and self.quantization != "int4":
            raise ValueError(f"int4 options go with quantization: int4; received quantization: {self.quantization}")
        if self.quantization == "int4":
            from kerasopt.export.low_bit_packages import INSTALL_HINT, missing

            if missing():
                raise ValueError(f"quantization: int4 needs ai-edge-quantizer, not installed: {INSTALL_HINT}")
        if self.min_speedup is not None and not (self.verify and self.float_baseline):
            raise ValueError(
                "export.tflite.min_speedup is measured against model_float.tflite by running both "
                f"files; it needs verify: true and float_baseline: true (received verify: "
                f"{str(self.verify).lower()}, float_baseline: {str(self.float_baseline).lower()})")
        return self


class Export(StrictModel):
    """Which artifacts to write into the run directory."""

    keras: Flag = True
    saved_model: Flag = False
    tflite: TFLite | None = None
    onnx: Flag = Field(False, description="write model.onnx (Keras's ONNX export, tf2onnx) and verify it with "
                       "onnxruntime on the test split; needs pip install 'kerasopt[onnx]'")

    @field_validator("onnx")
    @classmethod
    def _onnx_installed(cls, value: bool) -> bool:
        from kerasopt.export.onnx_packages import INSTALL_HINT, missing_packages

        missing = missing_packages() if value else []
        if missing:
            raise ValueError(f"ONNX export needs {', '.join(missing)}, not installed: {INSTALL_HINT}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _tflite_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tflite") is True:
            return {**data, "tflite": {}}
        if isinstance(data, dict) and data.get("tflite") is False:
            return {**data, "tflite": None}
        return data


class TensorBoardOptions(StrictModel):
    """TensorBoard logging of every run (scalars, learning rate, hparams, the recipe as text)."""

    enabled: Flag = True
    update_freq: Literal["epoch"] | PositiveInt = Field(
        "epoch", description="'epoch', or log batch-level scalars every N steps")
    histogram_freq: Annotated[int, Field(ge=0)] = 0
    weight_norms: Flag = True


class Runtime(StrictModel):
    """Where and how the run executes."""

    device: Literal["auto", "cpu", "gpu", "tpu"] = "auto"
    strategy: Literal["auto", "one_device", "mirrored", "tpu", "multi_worker"] = Field(
        "auto", description="auto (mirrored over several GPUs, else one device) | one_device | mirrored | "
        "tpu | multi_worker (MultiWorkerMirroredStrategy over the cluster in TF_CONFIG or SLURM; "
        "`kerasopt run RECIPE --workers N` starts N local workers)")
    mixed_precision: Literal["none", "auto", "mixed_float16", "mixed_bfloat16"] = Field(
        "none", description="none | mixed_float16 (GPU; Keras scales the loss dynamically) | "
        "mixed_bfloat16 (TPU, recent CPUs and GPUs; no loss scaling needed) | auto: mixed_float16 on "
        "a GPU, mixed_bfloat16 on a TPU, none on a CPU. Line-search (lbfgs, conjugate_gradient) and "
        "closure (sam, adahessian) optimizers refuse mixed_float16's loss scaling")
    deterministic: Flag = Field(False, description="TensorFlow op determinism (slower)")
    verbose: Literal[0, 1, 2] = Field(1, description="0 silent, 1 progress bar, 2 one line per epoch")
    backup_minutes: Annotated[float, Field(gt=0)] = Field(
        10.0, description="back up an unfinished stage (for --resume) at the first epoch end this many "
        "minutes after the last backup; besides, each stage is backed up about ten times")
    tensorboard: TensorBoardOptions = Field(default_factory=TensorBoardOptions)
    loggers: list[MlflowLogger] = Field(
        default_factory=list, description="experiment trackers the run also reports to: "
        "[{type: mlflow, tracking_uri: ..., experiment: ...}] (needs pip install 'kerasopt[mlflow]')")
    scale_learning_rate: Literal["none", "linear"] = Field(
        "none", description="data.batch_size is the global batch, split over the replicas of "
        "runtime.strategy. linear: multiply every numeric learning rate by data.batch_size / "
        "base_batch_size (Goyal et al. 2017, section 2.1), e.g. when data.batch_size was raised "
        "with the replica count; none: use the rates as written")
    base_batch_size: PositiveInt | None = Field(
        None, description="with scale_learning_rate: linear, the global batch the learning rates "
        "were tuned for; default data.batch_size / replicas (the rates were tuned on one device "
        "with the batch one replica now gets, so they are multiplied by the replica count)")


class Recipe(StrictModel):
    """A complete training recipe."""

    name: Annotated[str, Field(pattern=NAME_RE, max_length=100)]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)] = 0
    data: Data
    model: Model
    training: Training = Field(default_factory=Training)
    stages: list[Stage] = Field(default_factory=list)
    compression: Compression = Field(default_factory=Compression)
    export: Export = Field(default_factory=Export)
    runtime: Runtime = Field(default_factory=Runtime)
    sweep: SweepSection | None = Field(None, description="search space of `kerasopt sweep`; `run` ignores it")

    @model_validator(mode="after")
    def _stage_names_unique(self) -> Recipe:
        names = [s.name for s in self.stages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _teachers_come_first(self) -> Recipe:
        names = [s.name for s in self.stages]
        for index, stage in enumerate(self.stages):
            distillation = stage.compression.distillation or self.compression.distillation
            wanted = distillation.teacher.stage if distillation is not None else None
            if wanted is not None and wanted not in names[:index]:
                where = "comes later" if wanted in names else "does not exist"
                raise ValueError(
                    f"stage {stage.name!r} distills from teacher stage {wanted!r}, which {where}; "
                    f"the teacher must be an earlier stage: {', '.join(names[:index]) or '(none)'}")
        return self

    @model_validator(mode="after")
    def _no_qat_after_clustering(self) -> Recipe:
        seen_clustering = self.compression.clustering is not None
        for stage in self.stages:
            merged_clustering = stage.compression.clustering or self.compression.clustering
            if stage.compression.qat is not None and seen_clustering:
                raise ValueError(
                    f"stage {stage.name!r} runs qat after a clustering stage: quantization-aware "
                    "fine-tuning does not keep the shared values. Export the clustered model with "
                    "export.tflite.quantization: int8 (ranges calibrated on training samples), or "
                    "run qat without clustering")
            seen_clustering = seen_clustering or merged_clustering is not None
        return self

    @model_validator(mode="after")
    def _scaled_rates_need_a_batch_size(self) -> Recipe:
        runtime = self.runtime
        if runtime.scale_learning_rate == "none" and runtime.base_batch_size is not None:
            raise ValueError("runtime.base_batch_size applies only with runtime.scale_learning_rate: "
                             "linear")
        if runtime.scale_learning_rate != "none" and not isinstance(self.data.batch_size, int):
            raise ValueError(
                "runtime.scale_learning_rate: linear needs a numeric data.batch_size (received "
                f"{self.data.batch_size!r}); with batch_size: auto, scale the rates with "
                "data.batch_size_search.scale_lr instead")
        return self

    @model_validator(mode="after")
    def _qat_exports_int8(self) -> Recipe:
        uses_qat = self.compression.qat is not None or any(s.compression.qat for s in self.stages)
        tflite = self.export.tflite
        if uses_qat and tflite is not None and tflite.quantization != "int8":
            raise ValueError(
                "compression.qat trains int8 ranges, so export.tflite.quantization must be 'int8' "
                f"(received {tflite.quantization!r}); the float model of the stages before QAT is "
                "exported as tflite_float for comparison")
        return self

    @model_validator(mode="after")
    def _integer_io_needs_raw_inputs(self) -> Recipe:
        tflite = self.export.tflite
        if tflite is not None and tflite.io != "float32" and self.data.normalization != "none":
            raise ValueError(
                f"export.tflite.io: {tflite.io} makes the file integer-only, but data.normalization: "
                f"{self.data.normalization} puts a Normalization layer at the model's input, which "
                "int8 export keeps in float (one int8 scale for raw features would erase the small "
                "ones). Allowed: data.normalization: none with inputs already scaled, or "
                "export.tflite.io: float32")
        return self

    @model_validator(mode="after")
    def _speedup_needs_a_float_file(self) -> Recipe:
        tflite = self.export.tflite
        compresses = bool(self.compression.active()) or any(s.compression.active() for s in self.stages)
        if tflite is not None and tflite.min_speedup is not None and tflite.quantization == "none" \
                and not compresses:
            raise ValueError(
                f"export.tflite.min_speedup: {tflite.min_speedup} compares model.tflite with "
                "model_float.tflite, which is written only when quantizing or compressing; received "
                "quantization: none and no compression. Allowed: a quantization (int8, dynamic, "
                "float16, int16x8) or a compression stage")
        return self


TOP_LEVEL_KEYS = (*Recipe.model_fields, "extends")


def default_name(path: str) -> str:
    """A recipe name from its file name (`recipes/mnist1d_cnn.yaml` -> `mnist1d_cnn`)."""
    stem = re.sub(r"\.ya?ml$", "", path.replace("\\", "/").rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", stem) or "recipe"
