"""Batch sizes of the tensors a node combines: equal, or 1 (repeated for every image)."""

from __future__ import annotations

import torch


def common_batch(**sizes: int | None) -> int:
    """The batch size shared by named inputs (None = not connected): every size must be 1 or the largest.

    Raises ValueError naming the inputs that disagree, e.g. ``image has a batch of 2 but depth has 3``.
    """
    given = {k: int(v) for k, v in sizes.items() if v is not None}
    b = max(given.values(), default=1)
    odd = {k: v for k, v in given.items() if v not in (1, b)}
    if odd:
        largest = next(k for k, v in given.items() if v == b)
        name, n = next(iter(odd.items()))
        raise ValueError(
            f"{name} has a batch of {n} but {largest} has {b}; give equal batch sizes, or a batch of 1 "
            "to use the same one for every image"
        )
    return b


def repeat_to(t: torch.Tensor, b: int, name: str = "input") -> torch.Tensor:
    """``t [n,...]`` with n = b, or n = 1 expanded (a view) to b."""
    if t.shape[0] == b:
        return t
    if t.shape[0] == 1:
        return t.expand(b, *t.shape[1:])
    raise ValueError(f"{name} has a batch of {t.shape[0]}, expected {b} or 1")
