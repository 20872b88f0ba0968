"""Cheap statistics on large maps: an evenly strided subsample of a tensor's values."""

from __future__ import annotations

import torch


def strided_sample(values: torch.Tensor, max_count: int) -> torch.Tensor:
    """At most about ``max_count`` of the values of ``values`` (flattened), taken at an even stride, so
    quantiles and medians of 8K maps cost little. Works on the last dimension of a 2-D ``[N,M]`` input
    when ``values`` is 2-D, on all values otherwise."""
    if values.dim() == 2:
        return values[:, :: max(1, values.shape[1] // max_count)]
    flat = values.reshape(-1)
    return flat[:: max(1, flat.numel() // max_count)]
