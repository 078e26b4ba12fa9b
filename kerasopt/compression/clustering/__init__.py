"""Weight clustering (k-means weight sharing) for Keras 3 models; see README.md here."""

from kerasopt.compression.clustering.cluster_mean_constraint import (
    ClusterMeanConstraint as ClusterMeanConstraint,
)
from kerasopt.compression.clustering.cluster_model import cluster_weights as cluster_weights
from kerasopt.compression.clustering.cluster_model import clustering_summary as clustering_summary
from kerasopt.compression.clustering.cluster_model import strip_clustering as strip_clustering
from kerasopt.compression.clustering.clustered_layer import (
    SUPPORTED_LAYER_TYPES as SUPPORTED_LAYER_TYPES,
)
from kerasopt.compression.clustering.clustered_layer import ClusteredLayer as ClusteredLayer
from kerasopt.compression.clustering.kmeans import kmeans_1d as kmeans_1d

__all__ = [
    "SUPPORTED_LAYER_TYPES", "ClusterMeanConstraint", "ClusteredLayer", "cluster_weights",
    "clustering_summary", "kmeans_1d", "strip_clustering",
]
