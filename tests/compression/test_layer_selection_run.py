"""Issue 21's done-when: `clustering: {layers: ['conv1d*']}` on the shipped mnist1d_compress clusters the convolutions.

Before issue 21 clustering read `layers` as exact names, so the pattern failed at the start
of its stage ("names layers that model 'sequential' does not have: ['conv1d*']").
"""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.cli import main


@pytest.mark.slow  # the acceptance run on the shipped recipe: ~30 s of CPU, 7 training steps
def test_a_layers_pattern_clusters_the_matching_convolutions_of_mnist1d_compress(tmp_path):
    import keras

    stages = ("[{name: train, steps: 4}, {name: cluster, steps: 3, compression: "
              "{clustering: {number_of_clusters: 4, layers: ['conv1d*']}}}]")
    out = tmp_path / "run"
    assert main(["run", "mnist1d_compress", "--output-dir", str(out), f"stages={stages}",
                 "export={keras: true}", "runtime.verbose=0"]) == 0
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    # Layer names depend on what else the process built (Keras numbers them), so go by type.
    unique = [(type(layer).__name__, np.unique(keras.ops.convert_to_numpy(layer.kernel)).size)
              for layer in model.layers if hasattr(layer, "kernel")]
    assert [kind for kind, _ in unique] == ["Conv1D"] * 3 + ["Dense"] * 2, unique
    assert all(count <= 4 for kind, count in unique if kind == "Conv1D"), unique  # 4 shared values
    assert all(count > 1000 for kind, count in unique if kind == "Dense"), unique  # left float


TINY = """
name: tiny
seed: 0
data: {source: synthetic, samples: 60, input_shape: [12, 1], num_classes: 3, batch_size: 20}
model:
  layers:
    - {type: Conv1D, filters: 4, kernel_size: 3, name: conv1d}
    - {type: Flatten, name: flatten}
    - {type: Dense, units: 3, activation: softmax, name: dense}
training: {optimizer: adam}
runtime: {verbose: 0}
stages:
  - {name: train, epochs: 1}
  - name: cluster
    epochs: 1
    compression: {clustering: {layers: %s, layer_types: %s}}
"""


def test_layer_types_that_name_no_layer_class_are_exit_2_at_validate(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(TINY % ("['conv1d*']", "[Conv9D]"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stages[1].compression.clustering.layer_types[0]: unknown layer type" in err
    assert "received: 'Conv9D'" in err and "did you mean: Conv3D, Conv2D, Conv1D?" in err


def test_a_pattern_that_matches_no_layer_stops_the_run_before_the_first_stage_trains(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(TINY % ("['cnv*']", "null"))
    out = tmp_path / "run"
    assert main(["run", str(path), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "stages[1].compression.clustering: `layers` pattern 'cnv*' matches no layer. The model's layers: " \
           "conv1d, flatten, dense. Did you mean 'conv1d'?" in err
    assert not (out / "checkpoints").exists() and not (out / "metrics.json").exists()
