"""Metric depth maps: the DEPTH value passed between nodes, cleaning and edge-aware resampling.

Depth is distance from the lens in metres, ``[B,H,W]`` float32.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import torch

# How a depth map came to be.
MEASURED = "measured"  # from a file or a sensor: trusted metric values
ESTIMATED = "estimated"  # from a model with metric output
CALIBRATED = "calibrated"  # relative model output fitted to metres using assumptions
ASSUMED = "assumed"  # a prior (e.g. subject plane + background plane)


@dataclass(frozen=True)
class DepthMap:
    """The DEPTH type: metric depth plus where it came from.

    metres: ``[B,H,W]`` float32, metres from the lens, finite and > 0.
    source: one of MEASURED, ESTIMATED, CALIBRATED, ASSUMED.
    meta: free-form JSON-able facts (model name, assumptions, focus hints such as ``eye_xy``).
    layer_alpha: ``[B,H,W]`` 0..1 or None: the soft alpha (hair) of people who stand in front of
    everything else in the frame, as a portrait prior knows (``engine.people.People.alpha``, per image);
    LensBokeh then renders them as a layer of their own over the background behind them, LightingTint
    lights them by it.
    """

    metres: torch.Tensor
    source: str = MEASURED
    meta: dict[str, Any] = field(default_factory=dict)
    layer_alpha: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        if self.metres.dim() != 3:
            raise ValueError(f"DEPTH must be [B,H,W], got shape {tuple(self.metres.shape)}")
        if self.layer_alpha is not None and self.layer_alpha.shape != self.metres.shape:
            raise ValueError(
                f"layer_alpha {tuple(self.layer_alpha.shape)} must match the depth {tuple(self.metres.shape)}"
            )

    def to(self, device: torch.device | str) -> DepthMap:
        """The same map with its tensors on ``device`` (metadata shared)."""
        alpha = None if self.layer_alpha is None else self.layer_alpha.to(device)
        return replace(self, metres=self.metres.to(device), layer_alpha=alpha)


MIN_DEPTH_M = 1e-3


def clean_depth(depth_m: torch.Tensor, what: str = "depth") -> torch.Tensor:
    """Replace NaN, ±inf, zero and negative values so the map is usable, warning about what changed.

    NaN and non-positive values take the median of the valid values; +inf takes the largest finite
    valid value ×10 (treated as very far). Returns a new float32 tensor of the same shape.
    """
    d = depth_m.to(torch.float32)
    if d.numel() > 0:
        lo, hi = torch.aminmax(d)  # one pass; NaN propagates into both
        if bool((lo > 0) & (hi < math.inf)):
            return d
    bad_nan = torch.isnan(d)
    bad_inf = torch.isposinf(d)
    bad_nonpos = (d <= 0) | torch.isneginf(d)
    n_bad = int(bad_nan.sum() + bad_inf.sum() + bad_nonpos.sum())
    if n_bad == 0:
        return d
    valid = ~(bad_nan | bad_inf | bad_nonpos)
    if not bool(valid.any()):
        raise ValueError(
            f"{what} has no valid values (all NaN, infinite, zero or negative); "
            "supply metric depth in metres, greater than 0."
        )
    vals = d[valid]
    fill_far = float(vals.max()) * 10.0
    fill_mid = float(vals.median())
    out = torch.where(bad_inf, torch.full_like(d, fill_far), d)
    out = torch.where(bad_nan | bad_nonpos, torch.full_like(d, fill_mid), out)
    out = out.clamp_min(MIN_DEPTH_M)
    warnings.warn(
        f"{what}: replaced {int(bad_nan.sum())} NaN, {int(bad_inf.sum())} infinite and "
        f"{int(bad_nonpos.sum())} zero/negative values ({100.0 * n_bad / d.numel():.2f}% of pixels); "
        f"NaN/non-positive -> median {fill_mid:.3g} m, inf -> {fill_far:.3g} m",
        RuntimeWarning,
        stacklevel=2,
    )
    return out
