"""Images in one sub-folder per class, loaded into arrays with Keras's directory reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.data.array_checks import class_weight_problems, head_problems
from kerasopt.data.data_problem import DataProblem, raise_first
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData, existing_path, path_problem

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

CHECKED_IMAGES = 2000
"""How many images `check` opens (the header only) to find files that are no image; `load`
opens every one before decoding."""


class ImageFolder(DataSource):
    """A folder of images with one sub-folder per class (`directory/<class>/<image>`).

    Images are read with `keras.utils.image_dataset_from_directory` (formats: bmp, gif,
    jpeg, jpg, png) in file order, without shuffling, and loaded into float32 arrays
    with raw pixel values 0..255. Class names are the sub-folder names in sorted order.
    With `image_size`, every image is resized (bilinear) to `[height, width]`; without
    it, all images must already share one size (a different size raises DataError
    listing the sizes found, rather than being silently resized). `test_directory`, if
    given, must hold the same class sub-folders.

    Args:
        options: `directory` (required), `image_size` ([height, width]; defaults to
            `None`: the images' own size), `color_mode` ("rgb", "grayscale" or "rgba";
            defaults to "rgb"), `test_directory` (defaults to `None`).

    Raises:
        DataError: For a missing directory, fewer than two class sub-folders, a class
            sub-folder without images, images of different sizes without `image_size`,
            or test classes that differ.
    """

    name = "image_folder"
    options = (
        Option("directory", (str,), required=True, doc="folder with one sub-folder per class"),
        Option("image_size", (list,), doc="[height, width] to resize to"),
        Option("color_mode", (str,), default="rgb", choices=("rgb", "grayscale", "rgba")),
        Option("test_directory", (str,), doc="a second folder used as the test set"),
    )

    def has_test_set(self) -> bool:
        """True when `test_directory` is given."""
        return self.config["test_directory"] is not None

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """Check the folders, the class sub-folders and their images (listing; headers of the first `CHECKED_IMAGES`)."""
        problems, classes, files = self._inspect()
        if not problems:
            try:
                for option, found in files.items():
                    _image_sizes(found[:CHECKED_IMAGES], option)
            except DataError as err:
                problems.append(err.problem)
        if classes is not None and not problems:
            problems += class_weight_problems(class_weight, classes)
            problems += head_problems("classification", classes, (), loss, output_activation,
                                      output_units)
        return problems

    def load(self, seed: int) -> SourceData:
        """Read the images; `seed` is unused."""
        cfg = self.config
        problems, classes, files = self._inspect()
        raise_first(problems)
        size = cfg["image_size"]
        directory = existing_path("directory", cfg["directory"], directory=True)
        test = None
        if cfg["test_directory"] is not None:
            test_dir = existing_path("test_directory", cfg["test_directory"], directory=True)
            test = (test_dir, files["test_directory"])
        files = files["directory"]
        sizes = _image_sizes(files, "directory")  # every file, before TensorFlow decodes them
        if test is not None:
            sizes = {**_image_sizes(test[1], "test_directory"), **sizes}
        if size is None:
            size = _common_size(sizes)
        x, y = _read(directory, classes, size, cfg["color_mode"])
        x_test = y_test = None
        if test is not None:
            x_test, y_test = _read(test[0], classes, size, cfg["color_mode"])
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task="classification",
                          class_names=classes)

    def _inspect(self) -> tuple[list[DataProblem], list[str] | None, dict[str, list[Path]]]:
        """Problems, the class names (None if unknown) and the image files of each folder."""
        cfg = self.config
        size = cfg["image_size"]
        if size is not None and (len(size) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
            return [DataProblem("image_size", "Data option `image_size` must be [height, width] "
                                f"with integers >= 1. Received: image_size={size!r}.", size)], None, {}
        problems: list[DataProblem] = []
        found: dict[str, tuple[list[str], list[Path]]] = {}
        for option in ("directory", "test_directory"):
            if cfg[option] is None:
                continue
            problem = path_problem(option, cfg[option], directory=True)
            if problem is not None:
                problems.append(problem)
                continue
            scanned, more = _scan(option, Path(cfg[option]).expanduser())
            problems += more
            found[option] = scanned
        if "directory" not in found:
            return problems, None, {}
        classes = found["directory"][0]
        test = found.get("test_directory")
        if test is not None and test[0] != classes:
            problems.append(DataProblem(
                "test_directory", f"`test_directory` must hold the same class sub-folders as "
                f"`directory`. Found {test[0]} in test_directory={cfg['test_directory']!r} and "
                f"{classes} in directory.", test[0], classes))
        return problems, classes, {option: files for option, (_, files) in found.items()}


def _scan(option: str, directory: Path) -> tuple[tuple[list[str], list[Path]], list[DataProblem]]:
    """The class names and image files of a folder, and the problems with them."""
    where = f"{option}={str(directory)!r}"
    classes = sorted(p.name for p in directory.iterdir() if p.is_dir())
    images = {c: sorted(f for f in (directory / c).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
              for c in classes}
    problems = []
    if not classes:
        problems.append(DataProblem(option, f"`{option}` must hold one sub-folder per class; "
                                    f"{str(directory)!r} has no sub-folders.", str(directory)))
    empty = [c for c in classes if not images[c]]
    if empty:
        problems.append(DataProblem(
            option, f"The class sub-folder(s) {empty} of {where} hold no images "
            f"({', '.join(IMAGE_SUFFIXES)}). Add images or remove the folder(s).", empty, classes))
    elif option == "directory" and len(classes) == 1:
        problems.append(DataProblem(
            option, f"{where} has a single class sub-folder ({classes[0]!r}); classification "
            "needs at least 2 classes, one sub-folder each.", classes, None))
    return (classes, [f for c in classes for f in images[c]]), problems


def _image_sizes(files: list[Path], option: str) -> dict[tuple[int, int], Path]:
    """Each (height, width) found and its first file; reads headers only (a huge file costs nothing).

    Raises:
        DataError: For a file that is no readable image, naming it.
    """
    from PIL import Image, UnidentifiedImageError

    sizes: dict[tuple[int, int], Path] = {}
    for path in files:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise DataProblem(option, f"{str(path)!r} is not a readable image ({type(err).__name__}: "
                              f"{err}); an image folder holds {', '.join(IMAGE_SUFFIXES)} files only. "
                              "Remove or replace the file.", str(path),
                              f"image files ({', '.join(IMAGE_SUFFIXES)})").error() from None
        sizes.setdefault((height, width), path)
    return sizes


def _common_size(sizes: dict[tuple[int, int], Path]) -> list[int]:
    if len(sizes) > 1:
        found = "; ".join(f"{h}x{w} (e.g. {p.name})" for (h, w), p in list(sizes.items())[:4])
        raise DataError(f"The images have different sizes (height x width: {found}). Set the "
                        "data option `image_size: [height, width]` to resize them all.")
    (height, width), = sizes
    return [height, width]


def _read(directory: Path, classes: list[str], size: list[int],
          color_mode: str) -> tuple[np.ndarray, np.ndarray]:
    import keras

    dataset = keras.utils.image_dataset_from_directory(
        str(directory), labels="inferred", label_mode="int", class_names=classes,
        color_mode=color_mode, batch_size=None, image_size=tuple(size), shuffle=False,
        verbose=False)
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    return np.stack(images).astype(np.float32), np.asarray(labels, dtype=np.int32)
