"""Low-rank factorization of Dense and convolution kernels (truncated SVD); see README.md here."""

from kerasopt.compression.low_rank.factorize import (
    SUPPORTED_LAYER_TYPES as SUPPORTED_LAYER_TYPES,
)
from kerasopt.compression.low_rank.factorize import factorize_low_rank as factorize_low_rank
from kerasopt.compression.low_rank.factorize import low_rank_plan as low_rank_plan
from kerasopt.compression.low_rank.svd import choose_rank as choose_rank
from kerasopt.compression.low_rank.svd import truncated_factors as truncated_factors

__all__ = ["SUPPORTED_LAYER_TYPES", "choose_rank", "factorize_low_rank", "low_rank_plan", "truncated_factors"]
