"""`check_data`: the data problems a recipe would meet, found in well under a second, without TensorFlow.

A recipe validator calls `check_data` with the `data:` section's source and options
before anything heavy starts, and reports each `DataProblem` at the line of its key.
The sources that read local files (`csv`, `npz`, `image_folder`) check them through
their own `DataSource.check`; built-in (`mnist1d`, `digits`, `synthetic`) and online
(`keras_dataset`, `tfds`) sources have nothing to check and return no problems. This
module imports NumPy and the data package's option tables only, never TensorFlow or
Keras.

What is read: a CSV file's header, then its feature and target columns with NumPy's C
parser (10 to 30 ms per MB on a busy 2-core host), whole up to 32 MB and the first
10,000 rows of larger files (the class-count and `class_weight` checks are then skipped, since a
sample cannot prove them); an `.npz` file's two arrays, whole (NumPy reads a 100 MB
uncompressed array in about 0.1 s); an image folder's listing, without decoding images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kerasopt.data.data_problem import DataProblem as DataProblem
from kerasopt.data.errors import DataError
from kerasopt.data.output_spec import task_for_loss


def check_data(source: str, options: Mapping[str, Any], *, task: str | None = None,
               class_weight: Any = None, loss: Any = None,
               output_activation: str = "auto", output_units: int | None = None) -> list[DataProblem]:
    """Find the problems of a data source and its options before TensorFlow starts.

    Checks, for local files: the path exists and is readable (a file or a folder as the
    source needs, with a did-you-mean over the folder's entries); the CSV header has
    the target and feature columns (did-you-mean over the real names); the `.npz` file
    holds `x_key` and `y_key` (did-you-mean over its arrays); inputs are numbers with
    no NaN or infinity; the task is decided (key `task` when the targets are
    ambiguous, see `kerasopt.data.task_inference.TaskInference`); classification has
    at least two classes; no class folder is empty; `class_weight` keys are class
    indices. With `loss` or `output_activation` given, also that the output layer
    they imply fits the data (`kerasopt.data.output_spec.output_spec`), e.g. binary
    crossentropy on three classes.

    Args:
        source: The data source name (`"csv"`, `"npz"`, `"image_folder"`, ...).
        options: The source's own options, as `build_data` takes them.
        task: The task implied outside the `data:` section, or `None`. When the source's
            `task` option is "auto", this decides ambiguous targets; `None` uses the
            task implied by `loss` (`task_for_loss`), if any. Defaults to `None`.
        class_weight: The training option `class_weight`. Defaults to `None`.
        loss: The training loss (a name or `{"type": ...}`), or `None`. Defaults to `None`.
        output_activation: The model's `output_activation`. Defaults to `"auto"`.
        output_units: The output width of a fixed model (a `.keras` file used as it is),
            checked against what the data needs (a problem with key `model.path`).
            Defaults to `None`.

    Returns:
        The problems found (empty when the data looks usable); each has `key` relative
        to its `section` ("data", or "training" for `class_weight` and `loss`, "model"
        for `output_activation`).

    Example:
        >>> [p.key for p in check_data("csv", {"path": "no/such.csv", "target": "y"})]
        ['path']
        >>> check_data("mnist1d", {})
        []
    """
    from kerasopt.data.catalog import get_source

    try:
        source_class = get_source(source)
    except DataError as err:
        return [DataProblem("source", str(err), source)]
    try:
        data_source = source_class(source_class.options_with_task(options, task or task_for_loss(loss)))
    except DataError as err:  # every option error carries its problem
        return [err.problem or DataProblem("", str(err), dict(options))]
    return data_source.check(class_weight=class_weight, loss=loss,
                             output_activation=output_activation, output_units=output_units)

