"""Hostile input for every data source that reads files (issue 19): exit 2, one message, nothing written.

Each case writes a bad file (NaN or infinite values, lengths that disagree, empty, a
header alone, binary bytes, a 3 GB sparse file made with `truncate`: no disk is used)
and drives the command line as a user would: `kerasopt validate` and `kerasopt run` must
both exit 2 with a message naming the key path and no traceback, and `run` must leave
its output directory absent. `kerasopt.cli.main` runs in-process (validation fails before
TensorFlow is imported, so a case takes well under a second); one case goes through a real
subprocess to check what a terminal shows. Unicode file, folder and column names are
ordinary input: they validate and run.

The built-in sources (`digits`, `mnist1d`) read no user files; `synthetic` is covered
for its options (its own hostile input); `keras_dataset` and `tfds` download and are
covered in tests/data/test_online_sources.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kerasopt.cli import main
from tests.subprocesses import finish, start_python

HUGE = 3 * 2**30  # a sparse 3 GB file: `truncate` allocates no blocks


def _sparse(path: Path, size: int = HUGE, head: bytes = b"") -> str:
    path.write_bytes(head)
    os.truncate(path, size)
    return str(path)


def _npz(folder: Path, x: Any, y: Any, name: str = "data.npz") -> str:
    path = folder / name
    np.savez(path, x=np.asarray(x), y=np.asarray(y))
    return str(path)


def _features(rows: int = 40) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(rows, 4)).astype(np.float32)


def _labels(rows: int = 40) -> np.ndarray:
    return np.arange(rows) % 2


def _csv(folder: Path, text: str | bytes, name: str = "data.csv") -> str:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


GOOD_ROWS = "".join(f"{i % 7}.5,{i % 3}.25,{'yes' if i % 2 else 'no'}\n" for i in range(40))


def _images(folder: Path, classes: dict[str, int], name: str = "images") -> Path:
    from PIL import Image

    root = folder / name
    root.mkdir()
    rng = np.random.default_rng(0)
    for label, count in classes.items():
        (root / label).mkdir(parents=True)
        for i in range(count):
            pixels = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def _with_file(root: Path, relative: str, maker: Callable[[Path], object]) -> str:
    maker(root / relative)
    return str(root)


# (id, data section built in a folder, key path blamed, a fragment of the message)
CASES = [
    # ---- npz
    ("npz-nan", lambda d: {"source": "npz", "path": _npz(d, np.where(_features() > 1, np.nan, _features()), _labels())},
     "data.x_key", "NaN or infinite"),
    ("npz-inf", lambda d: {"source": "npz", "path": _npz(d, np.where(_features() > 1, np.inf, _features()), _labels())},
     "data.x_key", "NaN or infinite"),
    ("npz-nan-targets", lambda d: {"source": "npz", "path": _npz(d, _features(), np.where(_labels() > 0, np.nan, 1.0))},
     "data.y_key", "NaN or infinite"),
    ("npz-mismatched-lengths", lambda d: {"source": "npz", "path": _npz(d, _features(200), _labels(150))},
     "data.y_key", "200 inputs ('x') but 150 targets"),
    ("npz-empty-file", lambda d: {"source": "npz", "path": _csv(d, b"", "data.npz")}, "data.path", "is none. Write it with numpy.savez"),
    ("npz-no-rows", lambda d: {"source": "npz", "path": _npz(d, np.zeros((0, 4)), np.zeros(0))},
     "data.x_key", "hold no samples"),
    ("npz-binary", lambda d: {"source": "npz", "path": _csv(d, bytes(range(256)) * 64, "data.npz")},
     "data.path", "is none. Write it with numpy.savez"),
    ("npz-huge-sparse", lambda d: {"source": "npz", "path": _sparse(d / "data.npz")}, "data.path",
     "3,221,225,472 bytes"),
    # ---- csv
    ("csv-nan", lambda d: {"source": "csv", "path": _csv(d, "a,b,label\n" + GOOD_ROWS + "nan,1,yes\n"), "target": "label"},
     "data.features", "NaN or infinite"),
    ("csv-inf", lambda d: {"source": "csv", "path": _csv(d, "a,b,label\n" + GOOD_ROWS + "1,-inf,no\n"), "target": "label"},
     "data.features", "NaN or infinite"),
    ("csv-nan-targets", lambda d: {"source": "csv", "path": _csv(d, "a,b,y\n1,2,nan\n3,4,0.5\n5,6,2.5\n"),
                                   "target": "y", "task": "regression"}, "data.target", "NaN or infinite"),
    ("csv-mismatched-lengths", lambda d: {"source": "csv", "path": _csv(d, "a,b,label\n" + GOOD_ROWS + "1,no\n"),
                                          "target": "label"}, "data.path", "has 2 fields; the header has 3"),
    ("csv-empty", lambda d: {"source": "csv", "path": _csv(d, ""), "target": "label"}, "data.path", "is empty"),
    ("csv-header-only", lambda d: {"source": "csv", "path": _csv(d, "a,b,label\n"), "target": "label"},
     "data.path", "no data rows"),
    ("csv-binary", lambda d: {"source": "csv", "path": _csv(d, b"\x00" * 300_000), "target": "label"},
     "data.path", "is a binary file, not CSV text"),
    ("csv-binary-after-header", lambda d: {"source": "csv", "path": _csv(d, b"a,b,label\n1,2,x\n" + b"\x00" * 300_000
                                                                         + b"\n3,4,y\n"), "target": "label"},
     "data.path", "is a binary file, not CSV text"),
    ("csv-huge-sparse", lambda d: {"source": "csv", "path": _sparse(d / "data.csv"), "target": "label"},
     "data.path", "up to `max_megabytes` (1,024 MB)"),
    ("csv-sparse-under-limit", lambda d: {"source": "csv", "path": _sparse(d / "data.csv", 900 * 2**20, b"a,b,label\n"),
                                          "target": "label"}, "data.path", "is a binary file, not CSV text"),
    ("csv-repeated-column", lambda d: {"source": "csv", "path": _csv(d, "a,a,label\n" + GOOD_ROWS), "target": "label"},
     "data.path", "names 1 column(s) more than once: ['a']"),
    ("csv-endless-first-line", lambda d: {"source": "csv", "path": _csv(d, "a," * 2**20), "target": "label"},
     "data.path", "is longer than 1,048,576 characters"),
    ("csv-not-utf8", lambda d: {"source": "csv", "path": _csv(d, "a,b,label\n1,2,café\n".encode("latin-1")),
                                "target": "label"}, "data.path", "utf-8"),
    # ---- image folder
    ("images-empty-folder", lambda d: {"source": "image_folder", "directory": str(_images(d, {}))},
     "data.directory", "has no sub-folders"),
    ("images-empty-class", lambda d: {"source": "image_folder", "directory": _with_file(
        _images(d, {"cat": 3}), "dog", Path.mkdir)}, "data.directory", "hold no images"),
    ("images-binary", lambda d: {"source": "image_folder", "directory": _with_file(
        _images(d, {"cat": 3, "dog": 3}), "dog/broken.png", lambda p: p.write_bytes(bytes(range(256))))},
     "data.directory", "is not a readable image"),
    ("images-huge-sparse", lambda d: {"source": "image_folder", "directory": _with_file(
        _images(d, {"cat": 3, "dog": 3}), "dog/huge.png", _sparse)}, "data.directory", "is not a readable image"),
    ("images-mismatched-test-classes", lambda d: {
        "source": "image_folder", "directory": str(_images(d, {"cat": 2, "dog": 2})),
        "test_directory": str(_images(d, {"cat": 2, "cow": 2}, "test")), "test_split": None},
     "data.test_directory", "the same class sub-folders"),
    # ---- synthetic (no files: its options are its input)
    ("synthetic-nan-noise", lambda d: {"source": "synthetic", "noise": float("nan")}, "data.noise", "finite number"),
    ("synthetic-one-class", lambda d: {"source": "synthetic", "num_classes": 1}, "data.num_classes", ">= 2"),
    ("synthetic-empty", lambda d: {"source": "synthetic", "samples": 0}, "data.samples", ">= 2"),
]


def _recipe(folder: Path, data: dict[str, Any], **sections: Any) -> str:
    recipe = {"name": "hostile", "data": {"test_split": 0.25, **data},
              "model": {"architecture": "mlp", "units": [4]}, "training": {"epochs": 1},
              "runtime": {"verbose": 0, "tensorboard": {"enabled": False}}, "export": {"keras": False},
              **sections}
    recipe["data"] = {k: v for k, v in recipe["data"].items() if v is not None}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("make", "key", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_hostile_input_is_exit_2_with_one_message_and_nothing_written(tmp_path, capsys, make, key, fragment):
    recipe = _recipe(tmp_path, make(tmp_path))
    out = tmp_path / "run"
    assert main(["validate", recipe]) == 2
    validate_err = capsys.readouterr().err
    assert main(["run", recipe, "--output-dir", str(out)]) == 2
    run_err = capsys.readouterr().err
    for err in (validate_err, run_err):
        assert "Traceback" not in err and "problem found" in err, err
        assert f"{key}: " in err and fragment in err, err
    assert not out.exists() or not any(out.iterdir())


def test_hostile_run_in_a_real_process_prints_one_message(tmp_path):
    """What a terminal shows: issue 19's npz (x 200 rows, y 150) gave a raw traceback from `run`."""
    recipe = _recipe(tmp_path, {"source": "npz", "path": _npz(tmp_path, _features(200), _labels(150))})
    out = tmp_path / "run"
    done = finish(start_python("-m", "kerasopt.cli", "run", recipe, "--output-dir", str(out)), timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "data.y_key: " in done.stderr
    assert "allowed: 200 targets, one per input row" in done.stderr
    assert not out.exists()


def _unicode_sources(folder: Path) -> dict[str, dict[str, Any]]:
    place = folder / "données 数据"
    place.mkdir()
    rows = "".join(f"{i % 5}.5,{i % 3}.0,{'chat' if i % 2 else 'chien'}\n" for i in range(40))
    csv_path = _csv(place, "poids kg,taille 身長,étiquette\n" + rows, "table é.csv")
    npz_path = _npz(place, _features(), _labels(), "tableau ü.npz")
    images = _images(place, {"chat é": 4, "chien 犬": 4}, "images ñ")
    (images / "chat é" / "ïmage 画像.png").write_bytes((images / "chat é" / "0.png").read_bytes())
    return {
        "csv": {"source": "csv", "path": csv_path, "target": "étiquette", "features": ["poids kg", "taille 身長"]},
        "npz": {"source": "npz", "path": npz_path},
        "image_folder": {"source": "image_folder", "directory": str(images)},
    }


def test_a_csv_saved_with_a_byte_order_mark_finds_its_first_column(tmp_path, capsys):
    """Spreadsheets write UTF-8 CSV with a BOM; it read as part of the first column's name."""
    path = _csv(tmp_path, "\ufefflabel,a,b\n" + "".join(f"{'xy'[i % 2]},{i},{i % 3}\n" for i in range(20)))
    assert main(["validate", _recipe(tmp_path, {"source": "csv", "path": path, "target": "label"})]) == 0


@pytest.mark.parametrize("source", ["csv", "npz", "image_folder"])
def test_unicode_paths_and_column_names_validate(tmp_path, capsys, source):
    recipe = _recipe(tmp_path, _unicode_sources(tmp_path)[source])
    assert main(["validate", recipe]) == 0, capsys.readouterr().err
    assert "ok (hostile)" in capsys.readouterr().out


@pytest.mark.slow  # ~15 s of TensorFlow start-up in a fresh process: the one end-to-end run with non-ASCII names
def test_unicode_csv_runs_and_keeps_its_class_names(tmp_path):
    recipe = _recipe(tmp_path, _unicode_sources(tmp_path)["csv"])
    out = tmp_path / "sortie ü"
    assert main(["run", recipe, "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert 0.0 <= metrics["evaluation"]["test"]["accuracy"] <= 1.0
    assert "étiquette" in (out / "recipe.yaml").read_text(encoding="utf-8")
