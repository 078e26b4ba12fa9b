"""Fault: `--output-dir` names a folder of someone else's work (issue 19, item 1).

The folder of the issue: notes, a source tree and another tool's `checkpoints/`. Neither a
run nor `--overwrite` nor `--resume` may write, move or delete anything there; each exits 2
at once (before TensorFlow starts) naming what it found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.cli_process import kerasopt

FOREIGN = {
    "important.txt": b"the only copy of my notes\n",
    "src/train.py": b"import torch\nprint('training')\n",
    "checkpoints/resnet_epoch9.pt": bytes(range(256)) * 40,
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flags", [[], ["--overwrite"], ["--resume"]], ids=["run", "overwrite", "resume"])
def test_a_folder_of_someone_elses_work_is_refused_and_left_byte_for_byte(tmp_path, flags):
    project = tmp_path / "proj"
    for name, content in FOREIGN.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(content)
    folders = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_dir())
    outcome = kerasopt("run", "quickstart", "--output-dir", str(project), *flags)
    assert outcome.code == 2, outcome.stderr
    assert outcome.stderr == (
        f"kerasopt: error: {project} is not empty and is not a kerasopt run directory (it has no "
        ".kerasopt-run.json); it holds checkpoints/, important.txt, src/. kerasopt never writes into, "
        "moves or deletes a folder of files it did not write, with or without --overwrite: choose "
        "another --output-dir (a new or empty folder).")
    assert not outcome.imported_tensorflow, "refused before TensorFlow starts"
    assert _snapshot(project) == FOREIGN
    assert sorted(p.relative_to(project) for p in project.rglob("*") if p.is_dir()) == folders
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"], "nothing written beside it either"
