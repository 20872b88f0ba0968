"""Camera-to-face distance from sizes in the photo (pinhole/thin lens): the iris first, then the
interpupillary distance, then the face box.

An object of size D (mm) at distance Z from the lens spans d = f·D/(Z − f) on the sensor (thin lens),
so Z = f + f_px·D/d_px, with the focal length f in mm and f_px = f × pixels per sensor mm. Distances
are returned in metres, along the optical axis (the depth map's convention).
"""

from __future__ import annotations

from typing import Optional

IRIS_DIAMETER_MM = 11.7  # horizontal visible iris diameter, ±0.5 mm across adults
INTERPUPILLARY_MM = 63.0  # adult mean, about ±3.5 mm
FACE_BOX_WIDTH_MM = 150.0  # width of a frontal Haar face box, about 2.4 × IPD
# an iris is about 0.186 of the interpupillary distance (11.7 / 63); outside this range one of the two
# measurements is wrong (closed eyes, a profile view, a misplaced iris) and the iris is not trusted
IRIS_TO_IPD_RANGE = (0.13, 0.26)
MIN_IRIS_PX = 5.0  # below this the iris reads large (+4 % at 4 px, +7 % at 3 px, bench_face_distance.py)


def distance_from_size(size_px: float, real_mm: float, focal_length_mm: float, pixels_per_mm: float) -> float:
    """Distance in metres of an object ``real_mm`` across that spans ``size_px`` pixels."""
    f_px = focal_length_mm * pixels_per_mm
    return (focal_length_mm + f_px * real_mm / size_px) / 1000.0


def distance_from_eyes(
    iris_px: Optional[float],
    interpupillary_px: Optional[float],
    focal_length_mm: float,
    pixels_per_mm: float,
) -> Optional[tuple[float, str]]:
    """Distance (m) and how it was found, from the mean iris diameter and/or the interpupillary
    distance in pixels; None when neither is usable."""
    if iris_px is not None and iris_px >= MIN_IRIS_PX:
        ratio_ok = interpupillary_px is None or (
            IRIS_TO_IPD_RANGE[0] <= iris_px / max(interpupillary_px, 1e-6) <= IRIS_TO_IPD_RANGE[1]
        )
        if ratio_ok:
            z = distance_from_size(iris_px, IRIS_DIAMETER_MM, focal_length_mm, pixels_per_mm)
            return z, f"iris diameter {IRIS_DIAMETER_MM} mm ({iris_px:.1f} px)"
    if interpupillary_px is not None and interpupillary_px > 2:
        z = distance_from_size(interpupillary_px, INTERPUPILLARY_MM, focal_length_mm, pixels_per_mm)
        return z, f"interpupillary distance {INTERPUPILLARY_MM:.0f} mm ({interpupillary_px:.1f} px)"
    return None


def distance_from_face_width(width_px: float, focal_length_mm: float, pixels_per_mm: float) -> tuple[float, str]:
    """Distance (m) and how it was found, from the width in pixels of a frontal face box (the last
    resort when the eyes can't be measured)."""
    z = distance_from_size(width_px, FACE_BOX_WIDTH_MM, focal_length_mm, pixels_per_mm)
    return z, f"face box width {FACE_BOX_WIDTH_MM:.0f} mm"
