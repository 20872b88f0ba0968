"""Linear convolution by FFT (zero-padded, so without wrap-around) at FFT-friendly sizes.

The renderer's blurs are convolutions with hard-edged aperture kernels up to ~65 px wide, where the
FFT's cost, independent of the kernel's size, wins over direct convolution. Full-resolution layers are
convolved run by run of tiles and the results summed where they overlap (overlap-add, ``tiles``).
"""

from __future__ import annotations

import torch


def fast_len(n: int) -> int:
    """Smallest 2^a·3^b·5^c ≥ n (FFT-friendly size)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def padded_size(h: int, w: int, k: int) -> tuple[int, int]:
    """FFT size for the full linear convolution of an ``h×w`` image with a ``k×k`` kernel."""
    return fast_len(h + k - 1), fast_len(w + k - 1)


def fft_convolve_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear 'same' convolution of ``x [C,h,w]`` with ``kernel [k,k]`` (odd k); zeros outside."""
    k = kernel.shape[-1]
    if k == 1:
        return x * kernel.reshape(())
    c, h, w = x.shape
    H, W = padded_size(h, w, k)
    X = torch.fft.rfft2(x, s=(H, W))
    K = torch.fft.rfft2(kernel.to(x.dtype), s=(H, W))
    y = torch.fft.irfft2(X * K, s=(H, W))
    half = k // 2
    return y[:, half : half + h, half : half + w]


def fft_convolve_full(padded: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
    """Full linear convolution ``[C,H,W]`` of ``padded [C,H,W]`` (the image in its top-left corner, zeros
    elsewhere) with the kernel whose ``rfft2`` at size ``(H, W)`` is ``spectrum``."""
    return torch.fft.irfft2(torch.fft.rfft2(padded).mul_(spectrum), s=padded.shape[-2:])
