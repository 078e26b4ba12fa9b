"""Pruning held against tensorflow-model-optimization's own unit tests.

tfmot is never imported here (it switches the process to Keras 2). The expected values
were derived by reading tfmot's code and tests (github.com/tensorflow/model-optimization,
`tensorflow_model_optimization/python/core/sparsity/keras/`):

- Steps: `PruneLowMagnitude.call` assigns `pruning_step + 1` before
  `Pruning.conditional_mask_update` reads it, and `UpdatePruningStep.on_train_begin` sets
  the step from -1 to 0, so the k-th training batch evaluates the schedule at step k
  (`prune_integration_test.testPruneStopAndRestart_PreservesSparsity`: with
  `PolynomialDecay(0.2, 0.6, 1, 4, 3, 1)` and one batch per `fit`, sparsity is 0.2 after
  the first batch and 0.6 after the fourth). The values after batches 2 and 3 follow from
  `PolynomialDecay.__call__`: 0.6 + (0.2 - 0.6) * (1 - (k - 1) / 3) ** 3.
- Counts: `Pruning._update_mask` keeps `max(1, round(n * (1 - s)))` weights
  (`pruning_impl_test.testExtremelySparseMask`: 100 weights at 0.9999 keep 1;
  `prune_integration_test.testPruneWithHighSparsity`: `ConstantSparsity(0.99, 0,
  frequency=1)` on Dense 10 -> 8 -> 5 leaves one weight in each kernel). Block pruning
  runs the same count over the pooled blocks (`_maybe_update_block_mask`).
"""

import keras
import numpy as np
import pytest

from kerasopt.compression.pruning import (
    ConstantSparsity,
    PolynomialDecay,
    PruneLowMagnitude,
    UpdatePruning,
    prune_low_magnitude,
)
from kerasopt.compression.pruning._masks import prune_count


def simple_dense_model(seed=0):
    """tfmot's `keras_test_utils.build_simple_dense_model`, in Keras 3."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((10,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(5, activation="softmax")])


def kernel_sparsities(model):
    return [float(np.mean(keras.ops.convert_to_numpy(layer.pruned_weight) == 0))
            for layer in model.layers if isinstance(layer, PruneLowMagnitude)]


def one_batch(seed):
    """tfmot's integration-test data: 20 rows, one batch at Keras's default batch size."""
    rng = np.random.default_rng(seed)
    x = rng.random((20, 10)).astype("float32")
    return x, keras.utils.to_categorical(rng.integers(5, size=20), 5)


def train_one_batch(model, seed):
    model.fit(*one_batch(seed), batch_size=32, epochs=1, verbose=0, callbacks=[UpdatePruning()])


def test_the_kth_batch_runs_at_pruning_step_k():
    pruned = prune_low_magnitude(simple_dense_model(), PolynomialDecay(0.2, 0.6, 1, 4, 3, 1))
    pruned.compile("sgd", "categorical_crossentropy")
    assert kernel_sparsities(pruned) == [0.0, 0.0]
    expected = [0.6 + (0.2 - 0.6) * (1 - (k - 1) / 3) ** 3 for k in (1, 2, 3, 4)]
    assert expected == pytest.approx([0.2, 0.481481, 0.585185, 0.6], abs=1e-6)
    measured = []
    for k in range(4):
        train_one_batch(pruned, seed=k)
        measured.append(kernel_sparsities(pruned))
        assert [int(w.pruning_step) for w in pruned.layers] == [k + 1, k + 1]
    # Each kernel (80 and 40 weights) keeps round(n * (1 - s)) weights.
    for sparsities, s in zip(measured, expected, strict=True):
        assert sparsities == [(n - round(n * (1 - s))) / n for n in (80, 40)]
    assert measured[0] == [0.2, 0.2] and measured[-1] == [0.6, 0.6]  # tfmot's own assertions


def test_polynomial_decay_past_end_step_keeps_the_final_sparsity(tmp_path):
    # tfmot's testPruneWithPolynomialDecayPastEndStep_PreservesSparsity: PolynomialDecay(0.2,
    # 0.6, 0, 2, 3, 1), three one-batch epochs (steps 1-3, past end_step 2) give 0.6, kept
    # through save/load and one more step.
    pruned = prune_low_magnitude(simple_dense_model(), PolynomialDecay(0.2, 0.6, 0, 2, 3, 1))
    pruned.compile("sgd", "categorical_crossentropy")
    pruned.fit(*one_batch(0), batch_size=32, epochs=3, verbose=0, callbacks=[UpdatePruning()])
    assert kernel_sparsities(pruned) == [0.6, 0.6]
    pruned.save(tmp_path / "pruned.keras")
    loaded = keras.saving.load_model(tmp_path / "pruned.keras")
    assert kernel_sparsities(loaded) == [0.6, 0.6]
    loaded.compile("sgd", "categorical_crossentropy")
    train_one_batch(loaded, 1)
    assert kernel_sparsities(loaded) == [0.6, 0.6]
    assert [int(w.pruning_step) for w in loaded.layers] == [4, 4]


def test_zero_sparsity_trains_exactly_like_the_unpruned_model():
    # tfmot's testPrunesZeroSparsity_IsNoOp: ConstantSparsity(0, 0, frequency=1).
    model = simple_dense_model()
    pruned = prune_low_magnitude(simple_dense_model(), ConstantSparsity(0.0, 0, frequency=1))
    for m in (model, pruned):
        m.compile("sgd", "categorical_crossentropy")
    model.fit(*one_batch(0), batch_size=32, verbose=0)
    train_one_batch(pruned, 0)
    inner = [v for layer in pruned.layers for v in layer.layer.get_weights()]
    for plain, wrapped in zip(model.get_weights(), inner, strict=True):
        np.testing.assert_array_equal(plain, wrapped)


def test_constant_sparsity_from_step_zero_first_prunes_at_step_frequency():
    # tfmot's gate: (step - begin_step) % frequency == 0 with steps 1, 2, ...: step 0 never runs.
    pruned = prune_low_magnitude(simple_dense_model(), ConstantSparsity(0.5, 0, frequency=3))
    pruned.compile("sgd", "categorical_crossentropy")
    with pytest.warns(UserWarning, match=r"no mask was updated in this fit: it ran pruning steps "
                                         r"1-1, and the first pruning step of .* is 3"):
        train_one_batch(pruned, 0)
    with pytest.warns(UserWarning, match=r"ran pruning steps 2-2, and the first pruning step"):
        train_one_batch(pruned, 1)
    assert kernel_sparsities(pruned) == [0.0, 0.0]
    train_one_batch(pruned, 2)  # no warning (warnings are errors in this test suite)
    assert kernel_sparsities(pruned) == [0.5, 0.5]


def test_a_schedule_that_never_prunes_is_refused():
    # begin_step=0, frequency=100, end_step=50: tfmot's gate never opens on steps 1, 2, ...
    with pytest.raises(ValueError, match=r"This schedule never prunes: .* the first pruning step "
                                         r"is `frequency` \(100\), after end_step \(50\)"):
        PolynomialDecay(0.0, 0.5, begin_step=0, end_step=50)
    assert PolynomialDecay(0.0, 0.5, begin_step=0, end_step=100).first_pruning_step() == 100
    assert ConstantSparsity(0.5, begin_step=7).first_pruning_step() == 7


def test_extremely_sparse_mask_keeps_one_weight():
    assert prune_count(100, 0.9999) == 99
    layer = PruneLowMagnitude(keras.layers.Dense(1, use_bias=False))
    layer.build((None, 100))
    layer.layer.kernel.assign(np.linspace(1.0, 100.0, 100).reshape(100, 1))
    layer.update_mask(0.9999)
    mask = keras.ops.convert_to_numpy(layer.mask)
    assert int(np.count_nonzero(mask)) == 1 and mask[99, 0] == 1.0  # the largest survives


@pytest.mark.parametrize("structure", ["unstructured", "block"])
def test_high_sparsity_leaves_one_unit_in_every_kernel(structure):
    pruned = prune_low_magnitude(simple_dense_model(), ConstantSparsity(0.99, 0, frequency=1),
                                 structure=structure, block_shape=(1, 4))
    pruned.compile("sgd", "categorical_crossentropy")
    train_one_batch(pruned, 0)
    kept = {1: [1, 1], 4: [4, 4]}[1 if structure == "unstructured" else 4]  # one weight, or one 1x4 block
    counts = [int(np.count_nonzero(keras.ops.convert_to_numpy(w.pruned_weight)))
              for w in pruned.layers]
    assert counts == kept
