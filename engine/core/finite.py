"""Values that are not numbers in pictures: NaN and ±infinity in IMAGE and MASK tensors (fp16 VAE
decodes and other packs' nodes produce them). Replaced the same way on every device and at every size,
with a warning that counts them and names the input.
"""

from __future__ import annotations

import warnings

import torch


def all_finite(x: torch.Tensor) -> bool:
    """Whether every value of a picture is finite, in one reduction without a mask: a NaN or infinity
    makes the float32 sum non-finite (pictures are 0..1, so finite sums stay far from overflow; a false
    alarm from huge values only costs the exact check after it)."""
    return bool(torch.isfinite(x.sum(dtype=torch.float32)))


def finite_pixels(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` (IMAGE ``[B,H,W,C]`` or MASK ``[B,H,W]``, 0..1) with NaN and -inf replaced by 0 and +inf by
    1; warns (``UserWarning``) with the count and ``name`` when any were replaced. ``x`` itself when all
    values are finite (or it is not a float tensor)."""
    if not x.is_floating_point() or all_finite(x):
        return x
    finite = torch.isfinite(x)
    bad = int(finite.numel() - finite.sum())
    if bad == 0:
        return x
    warnings.warn(
        f"{name}: {bad} of {x.numel()} values were NaN or infinite (replaced: NaN and -inf by 0, +inf by 1); "
        "an fp16 VAE decode often makes them: decode in fp32 (--fp32-vae) to avoid it",
        stacklevel=2,
    )
    return torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)


def finite_depth_picture(x: torch.Tensor, name: str) -> torch.Tensor:
    """A depth picture ``[B,H,W]`` or ``[B,H,W,C]`` with non-finite values replaced by the median of each
    picture's finite values (a neutral depth, not the far or near end), with a warning that counts them.
    A picture with no finite value at all is refused (``ValueError``)."""
    if not x.is_floating_point():
        return x
    finite = torch.isfinite(x)
    if bool(finite.all()):
        return x
    if x.dim() == 2:  # one MASK [H,W]
        return finite_depth_picture(x[None], name)[0]
    out = x.clone()
    for i in range(x.shape[0]):
        ok = finite[i]
        if not bool(ok.any()):
            raise ValueError(f"{name}: picture {i} of the batch has no finite value (all NaN or infinite)")
        out[i][~ok] = x[i][ok].median()
    bad = int(finite.numel() - finite.sum())
    warnings.warn(
        f"{name}: {bad} of {x.numel()} values were NaN or infinite; replaced by the picture's median depth",
        stacklevel=2,
    )
    return out
