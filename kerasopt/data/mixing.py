"""MixUp and CutMix on a batch, with stateless TensorFlow randomness (for tf.data pipelines).

Both mix each sample with a partner drawn by a random permutation of the batch and mix
the one-hot labels with the same weight, so labels become soft: train them with
categorical crossentropy on one-hot labels. The mixing weight is drawn per sample
(the papers' code draws one per batch; per-sample draws give the same expected
augmentation with less variance between batches). Randomness comes from a `[2]`-int
seed tensor, so a pipeline that derives one seed per batch is reproducible.
"""

from __future__ import annotations

from typing import Any


def _beta(seed: Any, batch: Any, alpha: float) -> Any:
    """Draw `batch` samples of Beta(alpha, alpha) as G1 / (G1 + G2), G ~ Gamma(alpha)."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 2)
    g1 = tf.random.stateless_gamma([batch], seed=seeds[0], alpha=alpha)
    g2 = tf.random.stateless_gamma([batch], seed=seeds[1], alpha=alpha)
    total = g1 + g2
    # Both draws can underflow to 0 for a tiny alpha; then keep the sample unmixed.
    return tf.where(total > 0, g1 / tf.where(total > 0, total, 1.0), 1.0)


def _partners(seed: Any, batch: Any) -> Any:
    import tensorflow as tf

    return tf.random.experimental.stateless_shuffle(tf.range(batch), seed=seed)


def _mix_labels(y: Any, partner: Any, lam: Any) -> Any:
    import tensorflow as tf

    lam = tf.cast(lam, y.dtype)[:, None]
    return lam * y + (1.0 - lam) * tf.gather(y, partner)


def mixup(x: Any, y: Any, alpha: float, seed: Any) -> tuple[Any, Any]:
    """MixUp (Zhang et al., 2018, "mixup: Beyond Empirical Risk Minimization", Sec. 2).

    For each sample `i`, with partner `j = perm(i)` and `lam ~ Beta(alpha, alpha)`:
    `x_i' = lam * x_i + (1 - lam) * x_j` and `y_i' = lam * y_i + (1 - lam) * y_j`.

    Args:
        x: A batch of float inputs of any shape `(batch, ...)`.
        y: The one-hot (float) labels, `(batch, num_classes)`.
        alpha: The Beta distribution's concentration, > 0.
        seed: An int tensor of shape `[2]`.

    Returns:
        The mixed inputs and soft labels.
    """
    import tensorflow as tf

    batch = tf.shape(x)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    lam = _beta(seeds[0], batch, alpha)
    partner = _partners(seeds[1], batch)
    shape = tf.concat([[batch], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
    weight = tf.reshape(tf.cast(lam, x.dtype), shape)
    mixed = weight * x + (1.0 - weight) * tf.gather(x, partner)
    return mixed, _mix_labels(y, partner, lam)


def cutmix(x: Any, y: Any, alpha: float, seed: Any) -> tuple[Any, Any]:
    """CutMix (Yun et al., 2019, "CutMix: Regularization Strategy...", Sec. 3.1).

    For each sample, `lam ~ Beta(alpha, alpha)` sets a box whose sides are the input's
    sides times `sqrt(1 - lam)` (2-D images, `(batch, h, w, c)`) or a segment of
    length `L * (1 - lam)` (sequences, `(batch, steps, c)`), centred at a uniformly
    drawn point and clipped at the border. The box is pasted from the partner
    `j = perm(i)`, and the labels are mixed by the area actually kept, as in the
    paper: `lam' = 1 - box_area / total_area`, `y_i' = lam' y_i + (1 - lam') y_j`.
    Inputs are channels-last.

    Args:
        x: A batch of float inputs, `(batch, h, w, c)` or `(batch, steps, c)`.
        y: The one-hot (float) labels, `(batch, num_classes)`.
        alpha: The Beta distribution's concentration, > 0.
        seed: An int tensor of shape `[2]`.

    Returns:
        The mixed inputs and soft labels.
    """
    import tensorflow as tf

    batch = tf.shape(x)[0]
    spatial = x.shape[1:-1]
    seeds = tf.random.experimental.stateless_split(seed, 2 + len(spatial))
    lam = _beta(seeds[0], batch, alpha)
    partner = _partners(seeds[1], batch)
    side = tf.pow(1.0 - lam, 1.0 / len(spatial))
    mask = None
    box_fraction = tf.ones([batch])
    for k, size in enumerate(spatial):
        centre = tf.random.stateless_uniform([batch], seed=seeds[2 + k]) * size
        half = side * size / 2.0
        lo = tf.clip_by_value(tf.round(centre - half), 0.0, float(size))
        hi = tf.clip_by_value(tf.round(centre + half), 0.0, float(size))
        box_fraction = box_fraction * (hi - lo) / float(size)
        positions = tf.range(size, dtype=tf.float32)[None, :]
        inside = tf.logical_and(positions >= lo[:, None], positions < hi[:, None])
        shape = [-1] + [size if i == k else 1 for i in range(len(spatial))]
        inside = tf.reshape(inside, shape)
        mask = inside if mask is None else tf.logical_and(mask, inside)
    mask = tf.cast(mask[..., None], x.dtype)
    mixed = x * (1.0 - mask) + tf.gather(x, partner) * mask
    return mixed, _mix_labels(y, partner, 1.0 - box_fraction)
