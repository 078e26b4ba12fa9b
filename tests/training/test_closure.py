"""Tests of kerasopt.training.enable_closure and Closure."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.lookahead import Lookahead
from kerasopt.optimizers.sam import SAM
from kerasopt.training.closure import Closure, enable_closure

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 4)).astype("float32")
Y = (X[:, :1] - 2 * X[:, 1:2] > 0).astype("float32")
SW = RNG.uniform(0.5, 2.0, size=(24,)).astype("float32")


class ClosureSGD(keras.optimizers.SGD):
    """Takes the closure path but applies the first gradient: must equal the stock step."""

    requires_closure = True

    def apply_with_closure(self, closure, variables):
        _, grads = closure()
        self.apply(grads, variables)


def make_model(optimizer, kind="functional"):
    keras.utils.set_random_seed(3)
    reg = keras.regularizers.L2(0.01)
    if kind == "subclassed":
        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.hidden = keras.layers.Dense(6, activation="relu", kernel_regularizer=reg)
                self.norm = keras.layers.BatchNormalization()
                self.out = keras.layers.Dense(1, activation="sigmoid")

            def call(self, x, training=False):
                return self.out(self.norm(self.hidden(x), training=training))

        model = Net()
    else:
        inputs = keras.Input((4,))
        h = keras.layers.Dense(6, activation="relu", kernel_regularizer=reg)(inputs)
        h = keras.layers.BatchNormalization()(h)
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(optimizer=optimizer, loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="auc")], weighted_metrics=["mse"])
    return model


def fit(model):
    return model.fit(X, Y, sample_weight=SW, batch_size=8, epochs=2, verbose=0,
                     shuffle=False).history


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_normal_optimizer_gives_the_stock_numbers(kind):
    stock = make_model(keras.optimizers.Adam(0.01), kind)
    patched = enable_closure(make_model(keras.optimizers.Adam(0.01), kind))
    assert fit(stock) == fit(patched)
    for a, b in zip(stock.get_weights(), patched.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_closure_step_reproduces_the_stock_step(kind):
    # Loss scaling, sample weights, regularization, BN statistics, metrics: all as in Keras.
    stock = make_model(keras.optimizers.SGD(0.1, loss_scale_factor=4.0), kind)
    closure = enable_closure(make_model(ClosureSGD(0.1, loss_scale_factor=4.0), kind))
    h_stock, h_closure = fit(stock), fit(closure)
    assert h_stock.keys() == h_closure.keys()
    for key in h_stock:
        np.testing.assert_allclose(h_stock[key], h_closure[key], rtol=1e-5, err_msg=key)
    for a, b in zip(stock.get_weights(), closure.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_idempotent_and_survives_compile_after():
    model = make_model(keras.optimizers.Adam())
    assert enable_closure(model) is model
    step = model.train_step
    enable_closure(model)
    assert model.train_step is step
    model.compile(optimizer=SAM(keras.optimizers.SGD(0.1)), loss="binary_crossentropy")
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()


def test_wrapped_closure_optimizer_and_bn_statistics_updated_once():
    # BN right after the input: its batch mean does not depend on the weights. One step with
    # momentum 0.9 from moving_mean = 0 must give 0.1 * mean(x) (a second update would
    # give 0.1 * mean(x) * 1.9).
    inputs = keras.Input((4,))
    norm = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Model(inputs, keras.layers.Dense(1)(norm(inputs)))
    model.compile(optimizer=Lookahead(SAM(keras.optimizers.SGD(0.1)), sync_period=2), loss="mse")
    enable_closure(model).fit(X, Y, batch_size=24, epochs=1, verbose=0)
    np.testing.assert_allclose(norm.moving_mean.numpy(), 0.1 * X.mean(axis=0), rtol=1e-5)
    assert int(model.optimizer.iterations.numpy()) == 1


def test_custom_train_step_with_closure_optimizer_is_refused():
    class Custom(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    model = Custom([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=SAM("sgd"), loss="mse")
    with pytest.raises(ValueError, match="overrides `train_step`"):
        enable_closure(model).fit(X, Y, epochs=1, verbose=0)


def test_rejects_non_models():
    with pytest.raises(ValueError, match="keras.Model.*builtins.str"):
        enable_closure("model")


def test_gradients_and_hessian_vector_products_match_numpy():
    # MSE of a linear model: g = 2/n X^T (X w - y), H = 2/n X^T X.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer="sgd", loss="mse")
    w = model.get_weights()[0].astype(np.float64)
    v = RNG.normal(size=(4, 1)).astype("float32")
    loss, grads, hvps = Closure(model, X, Y).hessian_vector_product([v])
    x64, y64 = X.astype(np.float64), Y.astype(np.float64)
    np.testing.assert_allclose(float(loss), np.mean((x64 @ w - y64) ** 2), rtol=1e-5)
    np.testing.assert_allclose(grads[0], 2 / 24 * x64.T @ (x64 @ w - y64), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hvps[0], 2 / 24 * x64.T @ x64 @ v, rtol=1e-4, atol=1e-6)
    loss2, grads2 = Closure(model, X, Y)()
    np.testing.assert_allclose(grads2[0], grads[0], rtol=1e-6)
    with pytest.raises(ValueError, match="one tensor per trainable variable"):
        Closure(model, X, Y).hessian_vector_product([])
