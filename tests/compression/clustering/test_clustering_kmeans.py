"""1-D k-means against an independent O(n k) NumPy Lloyd and against scikit-learn."""

import numpy as np
import pytest
from sklearn.cluster import KMeans

from kerasopt.compression.clustering import kmeans_1d
from kerasopt.compression.clustering.kmeans import kmeans_plus_plus_init


def reference_lloyd(x, centroids, max_iterations=300):
    """Textbook Lloyd: argmin over all distances, mean of members, empty clusters stay."""
    centroids = np.array(centroids, dtype=np.float64)
    labels = None
    for _ in range(max_iterations):
        new = np.argmin(np.abs(x[:, None] - centroids[None, :]), axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for j in range(centroids.size):
            if np.any(labels == j):
                centroids[j] = x[labels == j].mean()
    return centroids, labels


def reference_kmeans_plus_plus(x, k, seed):
    """Arthur & Vassilvitskii seeding, distances recomputed from scratch at every draw."""
    rng = np.random.default_rng(seed)
    chosen = [x[rng.integers(x.size)]]
    for _ in range(k - 1):
        d2 = np.min((x[:, None] - np.array(chosen)[None, :]) ** 2, axis=1)
        chosen.append(x[rng.choice(x.size, p=d2 / d2.sum())])
    return np.sort(np.array(chosen))


def weights(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 0.05, n), rng.laplace(0.2, 0.02, n // 3)])


@pytest.mark.parametrize("k", [2, 5, 16])
def test_linear_init_matches_reference_lloyd(k):
    x = weights()
    expected_c, expected_l = reference_lloyd(x, np.linspace(x.min(), x.max(), k))
    centroids, labels = kmeans_1d(x, k, init="linear")
    np.testing.assert_allclose(centroids, expected_c, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(labels, expected_l)


def test_linear_init_matches_scikit_learn():
    x = weights(seed=1)
    init = np.linspace(x.min(), x.max(), 8)
    expected_c, expected_l = reference_lloyd(x, init)
    assert np.bincount(expected_l, minlength=8).min() > 0  # sklearn relocates empty clusters
    sk = KMeans(8, init=init[:, None], n_init=1, algorithm="lloyd", tol=0.0, max_iter=300)
    sk.fit(x[:, None])
    centroids, labels = kmeans_1d(x, 8, init="linear")
    np.testing.assert_allclose(centroids, sk.cluster_centers_.ravel(), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(labels, sk.labels_)


def test_empty_cluster_keeps_its_centroid():
    # Linear init puts a centroid at 0.5, which no value is nearest to.
    x = np.array([0.0, 0.01, 0.02, 0.98, 0.99, 1.0])
    centroids, labels = kmeans_1d(x, 3, init="linear")
    np.testing.assert_allclose(centroids, [0.01, 0.5, 0.99], atol=1e-12)
    np.testing.assert_array_equal(labels, [0, 0, 0, 2, 2, 2])


@pytest.mark.parametrize("seed", [0, 7])
def test_kmeans_plus_plus_matches_reference_seeding_and_lloyd(seed):
    x = weights(seed=2)
    expected_init = reference_kmeans_plus_plus(x, 16, seed)
    np.testing.assert_array_equal(kmeans_plus_plus_init(x, 16, seed), expected_init)
    expected_c, expected_l = reference_lloyd(x, expected_init)
    centroids, labels = kmeans_1d(x, 16, init="kmeans++", seed=seed)
    np.testing.assert_allclose(centroids, expected_c, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(labels, expected_l)


def test_kmeans_plus_plus_is_deterministic_by_seed():
    x = weights(seed=3)
    first = kmeans_1d(x, 16, seed=5)
    again = kmeans_1d(x, 16, seed=5)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    inits = {tuple(kmeans_plus_plus_init(x, 16, s)) for s in range(4)}
    assert len(inits) == 4


def test_result_is_a_lloyd_fixed_point():
    x = weights(seed=4)
    centroids, labels = kmeans_1d(x, 12)
    np.testing.assert_array_equal(labels, np.argmin(np.abs(x[:, None] - centroids), axis=1))
    for j in range(12):
        np.testing.assert_allclose(centroids[j], x[labels == j].mean(), atol=1e-12)
    assert np.all(np.diff(centroids) > 0)


def test_few_distinct_values_are_their_own_clusters():
    x = np.array([[3.0, 1.0], [3.0, 2.0], [1.0, 1.0]])
    for init in ("linear", "kmeans++"):
        centroids, labels = kmeans_1d(x, 4, init=init)
        np.testing.assert_array_equal(centroids, [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(labels, [2, 0, 2, 1, 0, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"number_of_clusters": 1}, r"`number_of_clusters` must be an integer >= 2\. Received: number_of_clusters=1"),
    ({"number_of_clusters": 2.0}, "number_of_clusters=2.0"),
    ({"init": "random"}, r"`init` must be one of 'linear', 'kmeans\+\+'\. Received: init='random'"),
    ({"seed": -1}, "seed=-1"),
    ({"max_iterations": 0}, "max_iterations=0"),
])
def test_invalid_arguments(kwargs, match):
    args = {"number_of_clusters": 4, **kwargs}
    k = args.pop("number_of_clusters")
    with pytest.raises(ValueError, match=match):
        kmeans_1d(np.arange(10.0), k, **args)


@pytest.mark.parametrize("values", [[], [1.0, np.nan, 2.0]])
def test_empty_or_non_finite_values(values):
    with pytest.raises(ValueError, match="non-empty array of finite numbers"):
        kmeans_1d(values, 2)
