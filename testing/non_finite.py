"""Pictures with NaN and ±infinity at random places (fp16 VAE decodes make them), for the engine and the
node tests of non-finite input."""

from __future__ import annotations

import numpy as np
import torch

SIZES = [(32, 32), (33, 57), (64, 96), (32, 1500)]  # below and above 4096 values: formula and table decode


DTYPES = [torch.float32, torch.float16, torch.bfloat16]


BAD = (float("nan"), float("inf"), float("-inf"))


def poisoned(shape, dtype, seed):
    """A random picture, the same picture with ``k`` non-finite values, and ``k``."""
    rng = np.random.default_rng(seed)
    clean = torch.from_numpy(rng.random(shape, dtype=np.float32)).to(dtype)
    bad = clean.clone()
    flat = bad.view(-1)
    k = int(rng.integers(1, 17))
    at = torch.from_numpy(rng.choice(flat.numel(), size=k, replace=False))
    flat[at] = torch.tensor([BAD[i % 3] for i in range(k)], dtype=dtype)
    return clean, bad, k


def replaced(bad):
    """What the pack puts in their place: NaN and -inf 0, +inf 1."""
    return torch.nan_to_num(bad, nan=0.0, posinf=1.0, neginf=0.0)
