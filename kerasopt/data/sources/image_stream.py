"""Images in one sub-folder per class, decoded batch by batch instead of loaded into memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem, raise_first
from kerasopt.data.options import Option
from kerasopt.data.sources.image_folder import ImageFolder, _common_size, _image_sizes, _scan
from kerasopt.data.stream import Stream, StreamData
from kerasopt.data.streaming_source import STREAM_OPTIONS, StreamingSource

CHANNELS = {"rgb": 3, "grayscale": 1, "rgba": 4}
FOLDERS = (("directory", "train"), ("validation_directory", "validation"), ("test_directory", "test"))


class ImageStream(ImageFolder, StreamingSource):
    """Class-per-sub-folder images (as `image_folder`), read and decoded per batch.

    The layout, formats, class names (the sorted sub-folder names) and pixel values
    (float32 0..255, bilinear resizing to `image_size`) are those of `image_folder` and
    of `keras.utils.image_dataset_from_directory`; the order is kerasopt's seeded one
    (`kerasopt.data.stream_pipeline`), each image being one file, so with the default
    `shuffle_shards: 1` every pass is a full permutation of the images seeded by
    `(seed, pass)`. The test split comes from `test_directory` and the validation split
    from `validation_directory` (none without it).

    Args:
        options: `directory` (required), `test_directory` (required),
            `validation_directory` (defaults to `None`), `image_size`, `color_mode`,
            `cache`, `shuffle_shards`.

    Raises:
        DataError: As `image_folder` does, naming the folder or file.
    """

    name = "image_stream"
    options = (
        Option("directory", (str,), required=True, doc="folder with one sub-folder per class"),
        Option("test_directory", (str,), required=True, doc="the test images, same class sub-folders"),
        Option("validation_directory", (str,), doc="the validation images, same class sub-folders"),
        Option("image_size", (list,), doc="[height, width] to resize to"),
        Option("color_mode", (str,), default="rgb", choices=tuple(CHANNELS)),
        *STREAM_OPTIONS,
    )

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """`image_folder`'s checks of the training and test folders, then the validation folder's."""
        return (super().check(class_weight, loss, output_activation, output_units) + self.stream_problems()
                + self._validation_problems()[0])

    def streams(self) -> StreamData:
        """List the images of each folder and check their headers (every file; no image is decoded)."""
        problems, classes, files = self._inspect()
        more, validation = self._validation_problems(classes)
        raise_first(problems + more + self.stream_problems())
        if validation is not None:
            files["validation_directory"] = validation
        sizes = {}
        for option, found in files.items():
            sizes.update(_image_sizes(found, option))
        size = self.config["image_size"] or _common_size(sizes)
        splits = {split: self._stream(option, files[option], classes, size)
                  for option, split in FOLDERS if option in files}
        return StreamData(train=splits["train"], validation=splits.get("validation"), test=splits["test"],
                          input_shape=(*size, CHANNELS[self.config["color_mode"]]), target_shape=(),
                          task="classification", class_names=classes)

    def _validation_problems(self, classes: list[str] | None = None) -> tuple[list[DataProblem], list[Path] | None]:
        from kerasopt.data.source import path_problem

        value = self.config["validation_directory"]
        if value is None:
            return [], None
        problem = path_problem("validation_directory", value, directory=True)
        if problem is not None:
            return [problem], None
        (found, images), problems = _scan("validation_directory", Path(value).expanduser())
        if classes is not None and found != classes:
            problems.append(DataProblem("validation_directory", "`validation_directory` must hold the same class "
                                        f"sub-folders as `directory`. Found {found}, want {classes}.", found, classes))
        return problems, images

    def _stream(self, option: str, images: list[Path], classes: list[str], size: list[int]) -> Stream:
        import tensorflow as tf

        root = Path(self.config[option]).expanduser()
        labels = tf.constant([classes.index(p.relative_to(root).parts[0]) for p in images], tf.int32)
        paths = tf.constant([str(p) for p in images])
        channels = CHANNELS[self.config["color_mode"]]

        def decode(path: Any, label: Any) -> tuple[Any, Any]:
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            image = tf.image.resize(image, size, method="bilinear")
            image.set_shape([*size, channels])
            return image, label

        return Stream(files=[str(p) for p in images], counts=np.ones(len(images), np.int64),
                      elements=lambda i: tf.data.Dataset.from_tensors((tf.gather(paths, i), tf.gather(labels, i))),
                      decode_element=decode)
