"""The `data:` section of a recipe: one source plus splits, normalization, batching, augmentation.

The per-source options and the augmentation arguments are generated from the data
package's own tables (`kerasopt.data.catalog.source_options()` and
`kerasopt.data.augmentation.ARGUMENTS`), so the schema and `build_data` can never disagree.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, create_model, field_validator, model_validator

from kerasopt.data.augmentation import ARGUMENTS
from kerasopt.data.catalog import source_options
from kerasopt.data.options import Option
from kerasopt.data.sequence_padding import AUGMENTATION_CONFLICT
from kerasopt.recipe.format.fields import Flag, Fraction, PositiveInt, StrictModel


def _annotation(types: tuple[type, ...], choices: tuple[Any, ...] | None) -> Any:
    if choices:
        return Literal[choices]  # type: ignore[valid-type]
    accepted = tuple(list[Any] if t is list else dict[str, Any] if t is dict else t for t in types)
    if float in types and int not in types:
        accepted += (int,)
    return accepted[0] if len(accepted) == 1 else Union[accepted]  # noqa: UP007


def _field(option: Option) -> tuple[Any, Any]:
    annotation = _annotation(option.types, option.choices)
    if option.required:
        return annotation, Field(..., description=option.doc or None)
    if option.default is None:
        annotation = annotation | None
    default = option.default
    if isinstance(default, (list, dict)):
        return annotation, Field(default_factory=lambda d=default: copy.deepcopy(d),
                                 description=option.doc or None)
    return annotation, Field(default, description=option.doc or None)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class BatchSizeSearch(StrictModel):
    """Options of the batch-size search (`kerasopt.callbacks.BatchSizeFinder`) for `batch_size: auto`.

    Unset options take BatchSizeFinder's own defaults.
    """

    max_memory_bytes: PositiveInt | None = Field(None, description="cap on the memory a trial adds")
    start: PositiveInt | None = None
    max_batch_size: PositiveInt | None = None
    scale_lr: Literal["none", "linear", "sqrt"] | None = Field(
        None, description="scale float learning rates by the batch ratio (Goyal et al. 2017)")
    base_batch_size: PositiveInt | None = Field(None, description="the batch the rates were tuned for")
    steps_per_trial: PositiveInt | None = None

    @model_validator(mode="after")
    def _base_for_scaling(self) -> BatchSizeSearch:
        if self.scale_lr in ("linear", "sqrt") and self.base_batch_size is None:
            raise ValueError(f"scale_lr={self.scale_lr!r} needs `base_batch_size`, the batch size "
                             "the learning rates were tuned for")
        return self

    def arguments(self) -> dict[str, Any]:
        """The options given, as BatchSizeFinder's keyword arguments."""
        return self.model_dump(exclude_none=True)


class DataBase(StrictModel):
    """Options every data source shares."""

    batch_size: PositiveInt | Literal["full", "auto"] = Field(
        32, description="examples per step: the global batch, which a distribution strategy splits "
                        "evenly over its replicas (so the numbers match one device); 'full' = the "
                        "whole training split (batch gradient descent); 'auto' = the largest that "
                        "fits the memory cap (batch_size_search)")
    batch_size_search: BatchSizeSearch = Field(default_factory=BatchSizeSearch)
    validation_split: Fraction = Field(0.1, description="fraction of training data held out for validation")
    test_split: Fraction | None = Field(
        None, description="fraction carved off as the test set, for sources without one (default 0.2)")
    stratify: Flag = True
    normalization: Literal["none", "minmax", "standardize"] = Field(
        "none", description="fitted on the training split only; carried into exported models")
    shuffle: Flag = True
    augmentation: list[Augmentation] = Field(default_factory=list)
    limit: PositiveInt | None = Field(None, description="keep at most this many training examples")

    @model_validator(mode="after")
    def _search_needs_auto(self) -> DataBase:
        if self.batch_size != "auto" and self.batch_size_search.arguments():
            raise ValueError("`batch_size_search` applies only with `batch_size: auto`; "
                             f"received batch_size={self.batch_size!r}")
        return self

    @model_validator(mode="after")
    def _masked_sequences_unaugmented(self) -> DataBase:
        sequences = getattr(self, "sequences", None)
        if isinstance(sequences, dict) and sequences.get("mask", True) is not False and self.augmentation:
            raise ValueError(AUGMENTATION_CONFLICT)
        return self

    def source_options(self) -> dict[str, Any]:
        """The source's own options (everything not shared by all sources)."""
        shared = set(DataBase.model_fields) | {"source"}
        return {k: v for k, v in self.model_dump().items() if k not in shared}


DATA_CLASSES: dict[str, type[DataBase]] = {
    name: create_model(  # type: ignore[call-overload]
        f"{_camel(name)}Data", __base__=DataBase, __module__=__name__,
        __doc__=f"The `{name}` data source.",
        source=(Literal[name], ...),  # type: ignore[valid-type]
        **{option.name: _field(option) for option in options})
    for name, options in source_options().items()
}


class AugmentationBase(StrictModel):
    """One augmentation step, applied to training batches only."""

    type: str

    def options(self) -> dict[str, Any]:
        """The step as `build_data` takes it: `type` plus its arguments."""
        return {"type": self.type, **self.model_dump(exclude={"type"})}


def _argument_check(kind: str, arg: str, check: Any, allowed: str) -> Any:
    """A field validator: the argument's value passes `check`, else the error names what is allowed."""

    def validate(value: Any) -> Any:
        if not check(value):
            raise ValueError(f"`{arg}` of augmentation {kind!r} must be {allowed}")
        return value

    return field_validator(arg)(validate)


def _augmentation_model(kind: str, arguments: dict[str, tuple[Any, ...]]) -> type[AugmentationBase]:
    fields = {arg: (_annotation(types, None), Field(default, description=allowed))
              for arg, (types, default, _check, allowed) in arguments.items()}
    validators = {f"_check_{arg}": _argument_check(kind, arg, check, allowed)
                  for arg, (_types, _default, check, allowed) in arguments.items()}
    return create_model(f"{_camel(kind)}Augmentation", __base__=AugmentationBase,  # type: ignore[call-overload]
                        __module__=__name__, __validators__=validators, type=(Literal[kind], ...), **fields)


AUGMENTATION_CLASSES = {kind: _augmentation_model(kind, args) for kind, args in ARGUMENTS.items()}


def _tag(field: str):
    def tag(value: Any) -> str | None:
        return value.get(field) if isinstance(value, dict) else getattr(value, field, None)

    return tag


Augmentation = Annotated[
    Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in AUGMENTATION_CLASSES.items())],  # noqa: UP007
    Discriminator(_tag("type")),
]

Data = Annotated[
    Union[tuple(Annotated[cls, Tag(name)] for name, cls in DATA_CLASSES.items())],  # noqa: UP007
    Discriminator(_tag("source")),
]
