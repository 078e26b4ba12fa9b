"""Metrics adapted to the model's head (integer labels on a softmax head, logits...)."""

from kerasopt.metrics.head_metric import HeadMetric as HeadMetric
from kerasopt.metrics.head_metric import for_head as for_head

__all__ = ["HeadMetric", "for_head"]
