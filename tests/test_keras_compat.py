"""One test per private Keras name reached through `kerasopt._keras_compat`.

Each test exercises the name the way kerasopt uses it and checks the behaviour kerasopt
relies on, so a Keras release that renames, removes or changes one fails here with the
name in the test's title, not somewhere deep in an optimizer or the closure train step.
"""

from __future__ import annotations

import importlib
import inspect

import keras
import numpy as np
import pytest
from keras import ops

from kerasopt import _keras_compat as compat


def _params(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)


def _built_sgd(**kwargs: object) -> tuple[keras.optimizers.Optimizer, list[keras.Variable]]:
    variables = [keras.Variable(np.ones(3, "float32"), name="a"),
                 keras.Variable(np.ones(2, "float32"), name="b")]
    optimizer = keras.optimizers.SGD(0.1, **kwargs)
    optimizer.build(variables)
    return optimizer, variables


def test_tested_keras_version_is_the_installed_one() -> None:
    # A different Keras is not an error by itself, but every test below must then pass.
    assert keras.__version__.split(".")[0] == compat.TESTED_KERAS_VERSION.split(".")[0] == "3"


def test_variable_index_of_keras_and_backend_variables() -> None:
    optimizer, (a, b) = _built_sgd()
    assert [compat.variable_index(optimizer, v) for v in (a, b)] == [0, 1]
    # The TensorFlow backend hands `update_step` the backend variable (`v.value`).
    assert compat.variable_index(optimizer, b.value) == 1
    assert _params(keras.optimizers.Optimizer._get_variable_index) == ["self", "variable"]


def test_has_variable() -> None:
    optimizer, (a, _) = _built_sgd()
    assert compat.has_variable(optimizer, a)
    assert not compat.has_variable(optimizer, keras.Variable(np.ones(3, "float32")))


def test_built_variables_in_build_order() -> None:
    optimizer, variables = _built_sgd()
    assert compat.built_variables(optimizer) == variables


def test_own_variables_are_the_base_variables_list() -> None:
    optimizer, _ = _built_sgd(momentum=0.9)
    own = compat.own_variables(optimizer)
    # iterations, learning rate and one momentum per variable
    assert len(own) == 4
    assert [id(v) for v in own] == [id(v) for v in optimizer.variables]


def test_iterations_variable_counts_raw_steps_under_gradient_accumulation() -> None:
    optimizer, variables = _built_sgd(gradient_accumulation_steps=2)
    grads = [ops.ones_like(v) for v in variables]
    for _ in range(3):
        optimizer.apply(grads, variables)
    counter = compat.iterations_variable(optimizer)
    assert isinstance(counter, keras.Variable)
    assert int(counter.numpy()) == 3
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 1  # 3 // 2 accumulated steps


def test_uses_weight_decay_honours_exclusions() -> None:
    a, b = keras.Variable(np.ones(2, "float32")), keras.Variable(np.ones(2, "float32"))
    optimizer = keras.optimizers.AdamW(weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_list=[b])
    optimizer.build([a, b])
    assert compat.uses_weight_decay(optimizer, a)
    assert not compat.uses_weight_decay(optimizer, b)


def test_raw_learning_rate_is_the_schedule_or_the_variable() -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert compat.raw_learning_rate(keras.optimizers.SGD(schedule)) is schedule
    rate = compat.raw_learning_rate(keras.optimizers.SGD(0.25))
    assert isinstance(rate, keras.Variable)
    assert float(rate.numpy()) == 0.25


def test_adam_slots_hold_the_moments() -> None:
    variable = keras.Variable(np.zeros(2, "float32"))
    optimizer = keras.optimizers.Adam(0.1, beta_1=0.9, beta_2=0.99, amsgrad=True)
    optimizer.apply([ops.convert_to_tensor(np.array([2.0, -1.0], "float32"))], [variable])
    momentums, velocities, hats = compat.adam_slots(optimizer)
    # m = (1 - beta_1) g, v = (1 - beta_2) g^2 after one step from zero.
    np.testing.assert_allclose(momentums[0].numpy(), [0.2, -0.1], rtol=1e-6)
    np.testing.assert_allclose(velocities[0].numpy(), [0.04, 0.01], rtol=1e-5)
    np.testing.assert_allclose(hats[0].numpy(), [0.04, 0.01], rtol=1e-5)
    plain = keras.optimizers.Adam()
    plain.build([variable])
    assert compat.adam_slots(plain)[2] is None


def test_schedule_ema_replaces_the_moving_average_update() -> None:
    variable = keras.Variable(np.zeros(2, "float32"))
    optimizer = keras.optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.9)
    compat.schedule_ema(optimizer, lambda step: 0.5 + 0.0 * ops.cast(step, "float32"))
    optimizer.build([variable])
    optimizer.apply([ops.convert_to_tensor(np.full(2, -1.0, "float32"))])
    np.testing.assert_allclose(variable.numpy(), [1.0, 1.0])
    # Keras's own rule would set the average to the weights at the first step (1.0).
    (average,) = [v for v in optimizer.variables if v.name.endswith("_average")]
    np.testing.assert_allclose(average.numpy(), [0.5, 0.5])



def test_swap_ema_weights_reaches_the_average_two_wrappers_deep() -> None:
    from kerasopt.optimizers import Lookahead
    from kerasopt.training import enable_ema

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    inner = enable_ema(Lookahead(keras.optimizers.SGD(0.1)), decay=0.5)
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(inner), loss="mse")
    x, y = np.array([[1.0, 2.0], [3.0, -1.0]], "float32"), np.array([[1.0], [0.0]], "float32")
    for _ in range(3):
        model.train_on_batch(x, y)
    raw = [v.numpy() for v in model.trainable_variables]
    average = [v.numpy() for v in inner.inner_optimizer._model_variables_moving_average]
    assert not np.allclose(raw[0], average[0])
    keras_own = keras.callbacks.SwapEMAWeights()  # looks one level deep: finds Lookahead, no average
    keras_own.set_model(model)
    with pytest.raises(ValueError, match="use_ema"):
        keras_own.on_test_begin()
    swap = compat.SwapEMAWeights()
    swap.set_model(model)
    swap.on_test_begin()
    for variable, expected in zip(model.trainable_variables, average, strict=True):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6)
    swap.on_test_end()
    for variable, expected in zip(model.trainable_variables, raw, strict=True):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6)

def test_base_kernel_is_the_kernel_without_lora() -> None:
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    before = layer.kernel.numpy()
    layer.enable_lora(1)
    layer.lora_kernel_b.assign(np.ones((1, 3), "float32"))
    np.testing.assert_array_equal(compat.base_kernel(layer).numpy(), before)
    assert not np.allclose(layer.kernel.numpy(), before)


class _HookedSGD(compat.WeightDecayHook, keras.optimizers.SGD):
    pass


@pytest.mark.parametrize("in_rule", [False, True])
def test_weight_decay_hook(in_rule: bool) -> None:
    variable = keras.Variable(np.full(2, 2.0, "float32"))
    optimizer = _HookedSGD(learning_rate=0.5, weight_decay=0.1)
    optimizer.decay_in_update_rule = in_rule
    optimizer.apply([ops.zeros(2)], [variable])
    # Keras's decoupled decay: w -= lr * wd * w = 2 - 0.5 * 0.1 * 2 = 1.9; skipped in-rule.
    expected = 2.0 if in_rule else 1.9
    np.testing.assert_allclose(variable.numpy(), [expected, expected], rtol=1e-6)
    assert _params(keras.optimizers.Optimizer._apply_weight_decay) == ["self", "variables"]


class _WholeStep(compat.WholeUpdateHook, keras.optimizers.SGD):
    def __init__(self) -> None:
        super().__init__(learning_rate=0.5)
        self.calls: list[tuple[int, int, float]] = []

    def update_all(self, grads, trainable_variables, learning_rate):  # noqa: ANN001, ANN201
        self.calls.append((len(grads), len(trainable_variables), float(learning_rate)))
        for grad, variable in zip(grads, trainable_variables, strict=True):
            self.assign_sub(variable, grad * 2.0)

    def update_step(self, gradient, variable, learning_rate):  # noqa: ANN001, ANN201
        raise AssertionError("update_step must not run: update_all replaces the loop")


def test_whole_update_hook_replaces_the_per_variable_loop() -> None:
    optimizer = _WholeStep()
    variables = [keras.Variable(np.ones(2, "float32")), keras.Variable(np.ones(3, "float32"))]
    optimizer.apply([ops.ones(2), ops.ones(3)], variables)
    assert optimizer.calls == [(2, 2, 0.5)]
    np.testing.assert_allclose(variables[1].numpy(), [-1.0, -1.0, -1.0])
    assert _params(keras.optimizers.Optimizer._backend_update_step) == [
        "self", "grads", "trainable_variables", "learning_rate"]


class _ClippedSGD(compat.ReplicaClipHook, keras.optimizers.SGD):
    pass


def test_replica_clip_hook_clips_as_keras_on_one_replica() -> None:
    # One replica: the hook defers to Keras's clipping. global_clipnorm 1 on the gradient
    # (3, 4) of norm 5 gives (0.6, 0.8); SGD at lr 1 moves the weights by that much. The
    # multi-replica half (sum over replicas, then clip) runs in tests/distribute.
    variable = keras.Variable(np.zeros(2, "float32"))
    optimizer = _ClippedSGD(learning_rate=1.0, global_clipnorm=1.0)
    optimizer.apply([ops.convert_to_tensor([3.0, 4.0])], [variable])
    np.testing.assert_allclose(variable.numpy(), [-0.6, -0.8], rtol=1e-6)
    assert _params(keras.optimizers.Optimizer._clip_gradients) == ["self", "grads"]


def test_flatten_layers_is_recursive() -> None:
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="inner_dense")])
    model = keras.Sequential([keras.Input((2,)), inner, keras.layers.Dense(1, name="outer")])
    names = [layer.name for layer in compat.flatten_layers(model, include_self=False)]
    assert "inner_dense" in names and "outer" in names and model.name not in names
    assert compat.flatten_layers(model)[0] is model


def test_call_has_training_arg() -> None:
    class NoTraining(keras.layers.Layer):
        def call(self, x):  # noqa: ANN001, ANN201
            return x

    assert compat.call_has_training_arg(keras.layers.Dropout(0.5))
    assert not compat.call_has_training_arg(NoTraining())


@pytest.mark.parametrize("make", [lambda: keras.layers.RandAugment(value_range=(0, 1), seed=1),
                                  lambda: keras.layers.AugMix(value_range=(0, 1), seed=1),
                                  lambda: keras.layers.RandomErasing(factor=(1.0, 1.0), value_range=(0, 1), seed=1)])
def test_stateless_preprocessing_replaces_every_nested_seed_generator(make) -> None:
    import tensorflow as tf

    layer = make()
    states = [v.numpy().copy() for v in layer.non_trainable_variables]
    call = compat.stateless_preprocessing(layer)
    x = tf.constant(np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype("float32"))
    seed = tf.constant([1, 2], tf.int64)
    first, again = call(x, seed).numpy(), call(x, seed).numpy()
    np.testing.assert_array_equal(first, again)  # a stateful generator would have moved on
    assert not np.array_equal(first, call(x, seed + 1).numpy())
    np.testing.assert_array_equal([v.numpy() for v in layer.non_trainable_variables], states)  # no state drawn
    assert call.layer is layer


def _compiled_model() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)),
                              keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_compute_loss_is_the_compiled_loss() -> None:
    model = _compiled_model()
    x = np.array([[1.0, 2.0], [0.0, 1.0]], "float32")
    y = np.array([[1.0], [0.0]], "float32")
    y_pred = model(x)
    loss = compat.compute_loss(model, x, y, y_pred, None, training=True)
    # Predictions 3 and 1 (ones kernel, zero bias): mse = ((3-1)^2 + (1-0)^2) / 2 = 2.5.
    assert float(loss) == pytest.approx(2.5)


def test_loss_tracker_feeds_the_reported_loss() -> None:
    model = _compiled_model()
    tracker = compat.loss_tracker(model)
    assert isinstance(tracker, keras.metrics.Mean)
    tracker.update_state(3.0)
    tracker.update_state(5.0)
    assert float(model.get_metrics_result()["loss"]) == pytest.approx(4.0)


def test_symbolic_build_builds_a_subclassed_model() -> None:
    class Tiny(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):  # noqa: ANN001, ANN201
            return self.dense(x)

    model = Tiny()
    model.compile(optimizer="sgd", loss="mse")
    assert not model.dense.built
    compat.symbolic_build(model, (np.ones((2, 3), "float32"), np.ones((2, 1), "float32")))
    assert model.dense.built and tuple(model.dense.kernel.shape) == (3, 1)


def test_unscale_loss_for_distribution_matches_keras() -> None:
    keras_loss = importlib.import_module("keras.src.losses.loss")
    value = ops.convert_to_tensor(1.5)
    assert float(compat.unscale_loss_for_distribution(value)) == pytest.approx(
        float(keras_loss.unscale_loss_for_distribution(value)))
    assert _params(keras_loss.unscale_loss_for_distribution) == ["value"]


def test_loss_reduction_module_is_where_every_loss_looks_up_reduce_values() -> None:
    module = compat.loss_reduction_module()
    assert module is importlib.import_module("keras.src.losses.loss")
    assert _params(module.reduce_values) == ["values", "sample_weight", "reduction"]
    original, seen = module.reduce_values, []
    module.reduce_values = lambda values, sample_weight=None, reduction="sum_over_batch_size": (
        seen.append(reduction) or original(values, sample_weight, reduction))
    try:
        loss = keras.losses.MeanSquaredError()(np.ones((2, 1)), np.zeros((2, 1)))
    finally:
        module.reduce_values = original
    assert seen == ["sum_over_batch_size"] and float(loss) == 1.0


def test_metric_direction() -> None:
    assert compat.metric_direction(keras.metrics.BinaryAccuracy()) == "up"
    assert compat.metric_direction(keras.metrics.MeanSquaredError()) == "down"
    assert compat.metric_direction(keras.metrics.Mean()) is None


def test_tensorboard_traces(tmp_path: object) -> None:
    assert not compat.tensorboard_traces(keras.callbacks.TensorBoard(str(tmp_path)))
    assert compat.tensorboard_traces(
        keras.callbacks.TensorBoard(str(tmp_path), profile_batch=(2, 3)))


def test_tensorflow_trainer_is_the_keras_model_base_in_the_trainer_module() -> None:
    module = importlib.import_module("keras.src.backend.tensorflow.trainer")
    assert compat.tensorflow_trainer() is module.TensorFlowTrainer
    assert issubclass(keras.Model, compat.tensorflow_trainer())
    assert compat.tensorflow_trainer_module() is module


def test_collective_multi_worker_is_false_off_a_cluster() -> None:
    import tensorflow as tf

    module = importlib.import_module("keras.src.backend.tensorflow.trainer")
    assert _params(module._collective_all_reduce_multi_worker) == ["strategy"]
    assert compat.collective_multi_worker(tf.distribute.get_strategy()) is False
    # MultiWorkerMirroredStrategy is tested on two processes in tests/distribute/.


def test_fit_internals_have_the_signatures_the_fixes_wrap() -> None:
    build, reduce = compat.fit_internals()
    assert _params(build) == ["self", "iterator", "data_batch"]
    assert _params(reduce) == ["values", "strategy", "reduction"]


def test_replaced_fit_internals_swaps_and_restores() -> None:
    module = importlib.import_module("keras.src.backend.tensorflow.trainer")
    before = compat.fit_internals()

    def build(self, iterator=None, data_batch=None):  # noqa: ANN001, ANN202
        return None

    def reduce(values, strategy, reduction):  # noqa: ANN001, ANN202
        return values

    with compat.replaced_fit_internals(build, reduce):
        assert module.TensorFlowTrainer._maybe_symbolic_build is build
        assert module.reduce_per_replica is reduce
        # The compiled step functions look the name up in the module when traced.
        assert "reduce_per_replica(" in inspect.getsource(module.TensorFlowTrainer._make_function)
    assert compat.fit_internals() == before
