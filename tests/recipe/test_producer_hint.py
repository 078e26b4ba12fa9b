"""A shipped recipe that loads another recipe's output says which one writes it (issue 19, item 11).

`kerasopt validate` / `show` of `digits_transfer` said only "file does not exist" for
`saved_models/digits_mlp/model.keras`; they now name the command that writes it.
"""

from __future__ import annotations

from pathlib import Path

from kerasopt.cli import main
from kerasopt.recipe.format.shipped import producer_command, recipes_dir

STUDY = "studies/transfer_learning"
SOURCE_COMMAND = (f"kerasopt run recipes/{STUDY}/source.yaml --output-dir "
                  "saved_models/technique_studies/transfer_learning/source")


def test_producer_of_a_run_folder():
    assert producer_command("saved_models/digits_mlp/model.keras") == "kerasopt run digits_mlp"
    assert producer_command(
        "saved_models/technique_studies/transfer_learning/source/model.keras") == SOURCE_COMMAND
    assert producer_command("saved_models/no_such_recipe/model.keras") is None
    assert producer_command("elsewhere/digits_mlp/model.keras") is None


def test_validate_and_show_name_the_recipe_to_run_first(tmp_path: Path, monkeypatch, capsys):
    # From an empty folder, so that no earlier run's model.keras is found.
    monkeypatch.chdir(tmp_path)
    transfer = str(recipes_dir() / "digits_transfer.yaml")
    for args in (["validate", transfer], ["show", "digits_transfer"]):
        assert main(args) == 2
        stderr = capsys.readouterr().err
        assert ("model.path: file does not exist; a shipped recipe writes it: run "
                "`kerasopt run digits_mlp` first") in stderr
        assert "Traceback" not in stderr and list(tmp_path.iterdir()) == []
    assert main(["validate", str(recipes_dir() / STUDY / "finetune.yaml")]) == 2
    assert f"run `{SOURCE_COMMAND}` first" in capsys.readouterr().err
