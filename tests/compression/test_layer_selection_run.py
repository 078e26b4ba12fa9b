"""Issue 21's done-when: `clustering: {layers: ['conv1d*']}` on the shipped mnist1d_compress clusters the convolutions.

Before issue 21 clustering read `layers` as exact names, so the pattern failed at the start
of its stage ("names layers that model 'sequential' does not have: ['conv1d*']").
"""

from __future__ import annotations

import numpy as np

from kerasopt.cli import main


def test_a_layers_pattern_clusters_the_matching_convolutions_of_mnist1d_compress(tmp_path):
    import keras

    stages = ("[{name: train, steps: 4}, {name: cluster, steps: 3, compression: "
              "{clustering: {number_of_clusters: 4, layers: ['conv1d*']}}}]")
    out = tmp_path / "run"
    assert main(["run", "mnist1d_compress", "--output-dir", str(out), f"stages={stages}",
                 "export={keras: true}", "runtime.verbose=0"]) == 0
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    unique = {layer.name: np.unique(keras.ops.convert_to_numpy(layer.kernel)).size
              for layer in model.layers if hasattr(layer, "kernel")}
    assert sorted(unique) == ["conv1d", "conv1d_1", "conv1d_2", "dense", "dense_1"]
    for name in ("conv1d", "conv1d_1", "conv1d_2"):
        assert unique[name] <= 4, unique  # 4 shared values (no zeros: nothing was pruned)
    assert unique["dense"] > 1000 and unique["dense_1"] > 1000, unique  # left float
