"""NumPy re-derivations of the distillation losses (independent of keras.ops)."""

import numpy as np


def log_softmax(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def kd_loss(teacher_logits, student_logits, temperature):
    """T² · mean over samples of KL(softmax(t/T) || softmax(s/T)) (Hinton et al. 2015)."""
    log_p = log_softmax(np.asarray(teacher_logits) / temperature)
    log_q = log_softmax(np.asarray(student_logits) / temperature)
    return temperature**2 * np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))


def sparse_ce_from_probs(labels, probs):
    """Mean of -log p[label], probabilities clipped like Keras (1e-7)."""
    probs = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    return float(np.mean(-np.log(probs[np.arange(len(labels)), labels])))


def softmax(z):
    return np.exp(log_softmax(z))
