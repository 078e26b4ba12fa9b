"""Images in one sub-folder per class, loaded into arrays with Keras's directory reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData, existing_path

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


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
        DataError: For a missing directory, no class sub-folders or no images, images of
            different sizes without `image_size`, or test classes that differ.
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

    def load(self, seed: int) -> SourceData:
        """Read the images; `seed` is unused."""
        cfg = self.config
        size = cfg["image_size"]
        if size is not None and (len(size) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
            raise DataError(f"Data option `image_size` must be [height, width] with integers "
                            f">= 1. Received: image_size={size!r}.")
        directory = existing_path("directory", cfg["directory"], directory=True)
        classes, files = _scan("directory", directory)
        test = None
        if cfg["test_directory"] is not None:
            test_dir = existing_path("test_directory", cfg["test_directory"], directory=True)
            test_classes, test_files = _scan("test_directory", test_dir)
            if test_classes != classes:
                raise DataError(f"`test_directory` must hold the same class sub-folders as "
                                f"`directory`. Found {test_classes} in test_directory="
                                f"{cfg['test_directory']!r} and {classes} in directory.")
            test = (test_dir, test_files)
        if size is None:
            size = _common_size(files + (test[1] if test else []))
        x, y = _read(directory, classes, size, cfg["color_mode"])
        x_test = y_test = None
        if test is not None:
            x_test, y_test = _read(test[0], classes, size, cfg["color_mode"])
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task="classification",
                          class_names=classes)


def _scan(option: str, directory: Path) -> tuple[list[str], list[Path]]:
    classes = sorted(p.name for p in directory.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"`{option}` must hold one sub-folder per class; {str(directory)!r} "
                        "has no sub-folders.")
    files = sorted(f for c in classes for f in (directory / c).rglob("*")
                   if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"No images ({', '.join(IMAGE_SUFFIXES)}) found in the class "
                        f"sub-folders of {option}={str(directory)!r}.")
    return classes, files


def _common_size(files: list[Path]) -> list[int]:
    from PIL import Image

    sizes: dict[tuple[int, int], Path] = {}
    for path in files:
        with Image.open(path) as image:
            width, height = image.size
        sizes.setdefault((height, width), path)
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
