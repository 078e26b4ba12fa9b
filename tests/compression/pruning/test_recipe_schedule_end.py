"""A recipe's pruning stage reaches its final sparsity on its last batch (`end_step: '1.0dur'`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kerasopt.cli import main


@pytest.mark.slow  # a whole `kerasopt run` (~30 s on the shared CPU): durations become steps only there
def test_end_step_at_the_stage_end_reaches_the_final_sparsity(tmp_path: Path) -> None:
    # 120 training rows in batches of 20: 6 steps per epoch, 12 in the stage. The 12th batch
    # is pruning step 12 (tfmot's counting), the stage's end_step. Before the fix it ran at
    # step 11, whose sparsity is 0.5 * 11 / 12 (power 1): 0.461 in the first kernel.
    recipe = {
        "name": "prune_to_the_end", "seed": 0,
        "data": {"source": "synthetic", "samples": 150, "input_shape": [8], "num_classes": 2,
                 "test_split": 0.2, "validation_split": 0.0, "batch_size": 20},
        "model": {"layers": [{"type": "Dense", "units": 16, "activation": "relu"},
                             {"type": "Dense", "units": 2, "activation": "softmax"}]},
        "training": {"optimizer": {"type": "sgd", "learning_rate": 0.01}},
        "runtime": {"verbose": 0},
        "export": {"keras": False},
        "stages": [{"name": "prune", "epochs": 2, "compression": {"pruning": {"pruning_schedule": {
            "type": "polynomial_decay", "initial_sparsity": 0.0, "final_sparsity": 0.5,
            "begin_step": 0, "end_step": "1.0dur", "power": 1, "frequency": 1}}}}],
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path), "--output-dir", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert list(metrics["sparsity_per_layer"].values()) == pytest.approx([0.5, 0.5])  # 128 and 32 weights
