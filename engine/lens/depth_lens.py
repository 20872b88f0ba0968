"""The lens a depth map assumed, and whether the lens rendering with it is the same one.

A depth map calibrated from a face's size, the portrait prior or a metric network rescaled to a
framing is metric only for the focal length and sensor it assumed (the same face at 35 mm on
APS-C is much nearer than at 85 mm on full frame). DEPTH records them in its metadata as
``focal_length_mm`` and ``sensor``; a measured map (from a file) records none.
"""

from __future__ import annotations

from typing import Any, Optional

FOCAL_TOLERANCE = 0.02  # relative difference in focal length still counted as the same lens


def assumed_lens(depth_meta: Optional[dict[str, Any]]) -> Optional[tuple[float, str]]:
    """``(focal_length_mm, sensor)`` the depth map's metric scale assumed, or None if it assumed none."""
    if not depth_meta or "focal_length_mm" not in depth_meta or "sensor" not in depth_meta:
        return None
    try:
        return float(depth_meta["focal_length_mm"]), str(depth_meta["sensor"])
    except (TypeError, ValueError):
        return None


def lens_mismatch(depth_meta: Optional[dict[str, Any]], focal_length_mm: float, sensor: str) -> Optional[str]:
    """A sentence saying how the depth's lens differs from ``focal_length_mm`` / ``sensor``, or None."""
    lens = assumed_lens(depth_meta)
    if lens is None:
        return None
    f, s = lens
    differs = []
    if abs(f - focal_length_mm) > FOCAL_TOLERANCE * max(f, focal_length_mm):
        differs.append(f"focal length {f:g} mm (here {focal_length_mm:g} mm)")
    if s != sensor:
        differs.append(f"sensor {s} (here {sensor})")
    if not differs:
        return None
    return (
        "the depth was made for " + " and ".join(differs) + ", so its distances in metres do not fit this lens; "
        "set the same focal length and sensor on both nodes, or set depth_lens to 'use the depth's lens'"
    )
