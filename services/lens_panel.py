"""The lens panel's route: the discs a lens profile draws, for LensBokeh's editor panel to show.

``GET /portraitos/lens_profile_discs?profile=…&f_number=…&focal_length_mm=…&focus_distance_m=…&sensor=…``
(and ``aperture_blades``, ``blade_rotation_deg``, ``blade_curvature`` for the ``ideal`` profile, which
uses the aperture the node sets) answers ``engine.lens.profiles.profile_discs`` as JSON:
``{"profile", "description", "radius_px", "discs": {label: {"size": K, "alpha": [K*K ints 0..255]}}}``,
labels ``centre``, ``corner`` (a background point at the frame centre and its top-right corner) and
``centre front``, ``corner front`` (a foreground point). The panel draws the masks it gets; it computes none.
"""

from __future__ import annotations

import logging
import math

from portraitos.engine.lens import Aperture
from portraitos.engine.lens.optics import DEFAULT_SENSOR, SENSORS
from portraitos.engine.lens.profiles import find_profile, profile_discs

log = logging.getLogger("PortraitOS")

ROUTE = "/portraitos/lens_profile_discs"
RADIUS_PX = 20.0  # the disc radius the panel draws at (its pixels)


def _number(query, name: str, default: float, lo: float, hi: float) -> float:
    text = query.get(name)
    if text in (None, ""):
        return default
    v = float(text)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name}={text} is outside {lo:g}..{hi:g}")
    return v


def discs_payload(query) -> dict:
    """The route's answer for a query mapping (``name -> text``); ``ValueError`` for a bad query."""
    profile = find_profile(query.get("profile") or "ideal")
    sensor = query.get("sensor") or DEFAULT_SENSOR
    if sensor not in SENSORS:
        raise ValueError(f"unknown sensor {sensor!r}")
    f_number = _number(query, "f_number", profile.max_aperture, 0.5, 64.0)
    focal = _number(query, "focal_length_mm", profile.focal_length_mm, 4.0, 1200.0)
    focus = _number(query, "focus_distance_m", 2.0, 0.0, 1e6) or 2.0  # 0 (auto): a portrait's 2 m
    aperture = Aperture(
        int(_number(query, "aperture_blades", 0, 0, 16)),
        _number(query, "blade_rotation_deg", 0.0, -360.0, 360.0),
        _number(query, "blade_curvature", 0.0, 0.0, 1.0),
    )
    discs = profile_discs(profile.name, f_number, focal, focus, sensor, RADIUS_PX, user_aperture=aperture)
    out = {}
    for label, mask in discs.items():
        alpha = (mask.clamp(0, 1) * 255).round().to(dtype=mask.dtype).flatten().tolist()
        out[label] = {"size": int(mask.shape[-1]), "alpha": [int(a) for a in alpha]}
    return {"profile": profile.name, "description": profile.description, "radius_px": RADIUS_PX, "discs": out}


def register_routes() -> bool:
    """Add the route to ComfyUI's server; False (nothing added) where no server runs (in-process tests)."""
    try:
        from aiohttp import web
        from server import PromptServer
    except ImportError:
        return False
    server = getattr(PromptServer, "instance", None)
    if server is None or getattr(server, "_portraitos_routes", False):
        return False

    @server.routes.get(ROUTE)
    async def lens_profile_discs(request):
        try:
            return web.json_response(discs_payload(request.rel_url.query))
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)

    server._portraitos_routes = True
    return True
