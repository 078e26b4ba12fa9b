"""LogitsDistillation and the Distiller's loss against NumPy: T², the alpha mix, probabilities."""

import keras
import numpy as np
import pytest

from kerasopt.compression.distillation import Distiller, LogitsDistillation, distill
from tests.compression.distillation import reference

RNG = np.random.default_rng(0)
TEACHER_LOGITS = (RNG.normal(size=(6, 5)) * 3).astype("float32")
STUDENT_LOGITS = RNG.normal(size=(6, 5)).astype("float32")
LABELS = np.array([0, 1, 2, 3, 4, 0])


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0, 7.5])
def test_kl_times_t_squared_matches_numpy(temperature):
    got = float(LogitsDistillation(temperature).compute_loss(TEACHER_LOGITS, STUDENT_LOGITS))
    np.testing.assert_allclose(got, reference.kd_loss(TEACHER_LOGITS, STUDENT_LOGITS, temperature),
                               rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 4.0, 1000.0])
def test_gradient_is_t_times_q_minus_p_and_tends_to_the_logit_difference(temperature):
    # d(T²·KL)/ds = T·(q − p)/N exactly; for large T it tends to (s − t)/(C·N) with zero-mean
    # logits (Hinton et al. 2015, section 2.1), so T² keeps the scale independent of T.
    import tensorflow as tf

    t = TEACHER_LOGITS - TEACHER_LOGITS.mean(-1, keepdims=True)
    s = tf.Variable(STUDENT_LOGITS - STUDENT_LOGITS.mean(-1, keepdims=True))
    with tf.GradientTape() as tape:
        loss = LogitsDistillation(temperature).compute_loss(t, s)
    grad = tape.gradient(loss, s).numpy()
    p, q = reference.softmax(t / temperature), reference.softmax(s.numpy() / temperature)
    np.testing.assert_allclose(grad, temperature * (q - p) / len(t), rtol=1e-3, atol=1e-6)
    if temperature == 1000.0:
        np.testing.assert_allclose(grad, (s.numpy() - t) / 5 / len(t), rtol=0, atol=1e-3)


def test_temperature_schedule_is_read_at_the_step():
    schedule = keras.optimizers.schedules.PolynomialDecay(4.0, 10, 1.0)
    strategy = LogitsDistillation(schedule)
    for step, temperature in ((0, 4.0), (5, 2.5), (10, 1.0), (30, 1.0)):
        np.testing.assert_allclose(
            float(strategy.compute_loss(TEACHER_LOGITS, STUDENT_LOGITS, step=step)),
            reference.kd_loss(TEACHER_LOGITS, STUDENT_LOGITS, temperature), rtol=1e-5)


def _linear(logits_kernel, activation=None):
    """A model x -> x @ kernel: with x the identity rows, its outputs are the kernel's rows."""
    model = keras.Sequential([keras.Input((logits_kernel.shape[0],)),
                              keras.layers.Dense(logits_kernel.shape[1], use_bias=False,
                                                 activation=activation)])
    model.layers[0].kernel.assign(logits_kernel)
    return model


def _fixed_pair(teacher_activation=None, student_activation="softmax"):
    eye = np.eye(6, dtype="float32")
    return (eye, _linear(TEACHER_LOGITS, teacher_activation), _linear(STUDENT_LOGITS, student_activation))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_total_loss_is_alpha_mix_of_t2_kl_and_label_loss(alpha, temperature):
    x, teacher, student = _fixed_pair()
    distiller = Distiller(student, teacher, [LogitsDistillation(temperature)], alpha=alpha)
    distiller.compile("sgd", loss="sparse_categorical_crossentropy")
    y_pred = distiller(x)
    total = float(distiller.compute_loss(x, LABELS, y_pred))
    expected = (alpha * reference.kd_loss(TEACHER_LOGITS, STUDENT_LOGITS, temperature)
                + (1 - alpha) * reference.sparse_ce_from_probs(LABELS, reference.softmax(STUDENT_LOGITS)))
    np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_alpha_schedule_and_strategy_weights():
    x, teacher, student = _fixed_pair()
    alpha = keras.optimizers.schedules.PolynomialDecay(0.2, 4, 0.8)  # ramps 0.2 -> 0.8 over 4 steps
    distiller = Distiller(student, teacher, [LogitsDistillation(2.0, weight=0.5),
                                             LogitsDistillation(1.0, weight=2.0)], alpha=alpha)
    distiller.compile("sgd", loss="sparse_categorical_crossentropy")
    distiller.optimizer.iterations.assign(2)
    kd = (0.5 * reference.kd_loss(TEACHER_LOGITS, STUDENT_LOGITS, 2.0)
          + 2.0 * reference.kd_loss(TEACHER_LOGITS, STUDENT_LOGITS, 1.0))
    ce = reference.sparse_ce_from_probs(LABELS, reference.softmax(STUDENT_LOGITS))
    np.testing.assert_allclose(float(distiller.compute_loss(x, LABELS, distiller(x))),
                               0.5 * kd + 0.5 * ce, rtol=1e-5)


@pytest.mark.parametrize("teacher_activation", [None, "softmax"])
def test_probability_outputs_give_the_logits_loss_and_gradients(teacher_activation):
    # Log-probabilities are the logits shifted per sample; softmax ignores the shift.
    import tensorflow as tf

    x, teacher, student = _fixed_pair(teacher_activation, "softmax")
    _, _, student_logits = _fixed_pair(None, None)
    results = []
    for model in (student, student_logits):
        distiller = Distiller(model, teacher, [LogitsDistillation(3.0)], alpha=1.0)
        with tf.GradientTape() as tape:
            loss = distiller.distillation_loss(x, distiller(x))
        results.append((float(loss), tape.gradient(loss, model.trainable_weights[0]).numpy()))
    np.testing.assert_allclose(results[0][0], reference.kd_loss(TEACHER_LOGITS, STUDENT_LOGITS, 3.0),
                               rtol=1e-5)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-7)


def test_output_kinds_are_read_from_the_last_layer_and_can_be_declared():
    x, teacher, student = _fixed_pair("softmax", "softmax")
    assert Distiller(student, teacher)._kinds == ("probabilities", "probabilities")
    separate = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Softmax()])
    assert Distiller(separate, teacher)._kinds == ("probabilities", "probabilities")
    # Declaring probabilities as logits changes the loss (a check that the declaration is used).
    declared = Distiller(student, teacher, alpha=1.0, teacher_output="logits", student_output="logits")
    auto = Distiller(student, teacher, alpha=1.0)
    assert abs(float(declared.distillation_loss(x, declared(x)))
               - float(auto.distillation_loss(x, auto(x)))) > 1e-3


def test_saturated_softmax_stays_finite():
    # Logit gaps of 200: probabilities underflow to 0 and are floored at 1e-30.
    logits = np.array([[200.0, 0.0, -200.0]], "float32")
    teacher = _linear(logits, "softmax")
    student = _linear(np.zeros((1, 3), "float32"), "softmax")
    distiller = distill(student, teacher, temperature=2.0, alpha=1.0)
    loss = float(distiller.distillation_loss(np.ones((1, 1), "float32"), distiller(np.ones((1, 1)))))
    # The teacher's tempered distribution is one-hot either way: 4 · log 3 against uniform.
    np.testing.assert_allclose(loss, 4 * np.log(3), rtol=1e-5)
