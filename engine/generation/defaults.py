"""What PortraitGenerate does with the widgets a user left alone: the method from the identity's face pack,
size and guidance from the model family, and the fast setting for distilled samplers. Plain Python.

Only values still equal to the node's defaults are replaced (a value the user typed always wins); every
replacement is reported in a note.
"""

from __future__ import annotations

from typing import Any

from .adapters import AdapterError

AUTO = "auto"
INSTANTID, FACEID, KEEP_FACE = "InstantID", "IP-Adapter FaceID", "keep face"
METHODS = (AUTO, INSTANTID, FACEID, KEEP_FACE)

# the node's widget defaults (SDXL, standard sampling): these are the values "left alone"
WIDGET_DEFAULTS: dict[str, Any] = {
    "width": 832,
    "height": 1216,
    "cfg": 5.0,
    "steps": 30,
    "sampler_name": "dpmpp_2m",
    "scheduler": "karras",
}
# what the references use per family: SDXL InstantID ~1 MP portrait at cfg 4-5; SD 1.5 FaceID 512×768, cfg ≈ 7.5
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "SDXL": {"width": 832, "height": 1216, "cfg": 5.0},
    "SD 1.5": {"width": 512, "height": 768, "cfg": 7.5},
}
STANDARD = "standard"
FAST = "fast (Lightning / Hyper / Turbo)"
FAST_LCM = "fast (LCM)"
# distilled samplers: few steps, CFG off (cfg 1 also lets ComfyUI skip the uncond pass), their schedule
SPEEDS: dict[str, dict[str, Any]] = {
    STANDARD: {},
    FAST: {"steps": 6, "cfg": 1.0, "sampler_name": "euler", "scheduler": "sgm_uniform"},
    FAST_LCM: {"steps": 6, "cfg": 1.0, "sampler_name": "lcm", "scheduler": "sgm_uniform"},
}


def effective_settings(values: dict[str, Any], family: str, speed: str = STANDARD) -> tuple[dict[str, Any], list[str]]:
    """``values`` (width, height, cfg, steps, sampler_name, scheduler) with those left at
    :data:`WIDGET_DEFAULTS` replaced by the model family's and then the speed setting's; and one note per
    replacement. Unknown families keep the widget values."""
    if speed not in SPEEDS:
        raise ValueError(f"speed must be one of {', '.join(SPEEDS)}, got {speed!r}")
    out = dict(values)
    notes = []
    wanted = {**FAMILY_DEFAULTS.get(family, {}), **SPEEDS[speed]}
    for key, value in wanted.items():
        if key in out and out[key] == WIDGET_DEFAULTS[key] and value != out[key]:
            why = f"the {speed} setting" if key in SPEEDS[speed] else f"{family}'s default"
            notes.append(f"{key} {out[key]} → {value} ({why}; set it to another value to override)")
            out[key] = value
    return out, notes


def method_for(method: str, face_pack: str | None, family: str) -> str:
    """The method to run: ``method`` itself, or for "auto" the one the identity's face pack was made for
    (antelopev2 → InstantID on SDXL, buffalo_l → IP-Adapter FaceID)."""
    if method != AUTO:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        return method
    if face_pack == "antelopev2":
        if family != "SDXL":
            raise AdapterError(
                f"method auto: the identity was made with antelopev2 (InstantID's face pack), but InstantID needs "
                f"SDXL and the model is {family}: load an SDXL checkpoint, or create the identity again with "
                "face_model buffalo_l for IP-Adapter FaceID (or choose method 'keep face')"
            )
        return INSTANTID
    if face_pack == "buffalo_l":
        return FACEID
    raise AdapterError(
        f"method auto: the identity was made with the face pack {face_pack!r}, which neither InstantID (antelopev2) "
        "nor IP-Adapter FaceID (buffalo_l) was trained on: choose the method, or create the identity with one of those"
    )
