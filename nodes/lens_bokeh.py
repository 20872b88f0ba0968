"""LensBokeh: thin-lens background separation rendered by scattering light over the aperture."""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from portraitos.engine.depth import DepthMap
from portraitos.engine.lens import (
    DEFAULT_SENSOR,
    SENSORS,
    Aperture,
    LensSettings,
    assumed_lens,
    highlights_under,
    in_focus_overlay,
    lens_mismatch,
    render_lens_bokeh,
)
from portraitos.engine.lens.focus_point import focus_mask_for, parse_focus_point
from portraitos.engine.lens.highlights import LIGHT_BOOST
from portraitos.engine.lens.profiles import IDEAL, PROFILE_NAMES, find_profile
from portraitos.engine.lighting import LightingSetup
from portraitos.engine.presets import DEFAULT_LENS
from portraitos.services import runtime
from portraitos.services.readout import caught_warnings, metres, node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_LENS, Depth, Lighting
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")

WARN = "warn if different"
FOLLOW = "use the depth's lens"
DEPTH_LENS_CHOICES = (WARN, FOLLOW)
PREVIEW_IMAGE = "result"
PREVIEW_OVERLAY = "result + in-focus overlay"
PREVIEWS = (PREVIEW_IMAGE, PREVIEW_OVERLAY)


class LensBokeh(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = (
        "bokeh",
        "blur",
        "lens blur",
        "background blur",
        "depth of field",
        "dof",
        "defocus",
        "shallow focus",
        "85mm",
    )

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LensBokeh",
            display_name="Portrait Bokeh: DoF blur (background)",
            category=CATEGORY_LENS,
            description="Blur the background of a portrait as a real lens does (e.g. 85 mm at f/1.2): how much "
            "each point blurs follows from focal length, f-number and focus distance (thin-lens optics); light is "
            "spread over an aperture-shaped disc in linear light, bright highlights become bokeh balls, and the "
            "sharp subject stays in front of the blurred background. Shows the result and the focus it used.",
            inputs=[
                io.Image.Input(
                    "image",
                    tooltip="The photo to blur (one image or a batch); an alpha channel passes through unchanged "
                    "(not blurred).",
                ),
                Depth.Input(
                    "depth",
                    tooltip="Distance of every pixel in metres: from Portrait Depth, Portrait Depth Load or Depth "
                    "Image to Portrait Depth (for Depth Anything / controlnet_aux pictures). Portrait Depth's "
                    "prior also brings the people's soft alpha (hair): they are then rendered as a layer of "
                    "their own over the background, so strands stay sharp over a blurred background.",
                ),
                io.Float.Input(
                    "focal_length_mm",
                    default=DEFAULT_LENS.focal_length_mm,
                    min=10.0,
                    max=400.0,
                    step=1.0,
                    tooltip="Focal length of the lens to imitate: 85 mm is the classic portrait lens; longer "
                    "lenses blur the background more at the same framing.",
                ),
                io.Float.Input(
                    "f_number",
                    default=DEFAULT_LENS.f_number,
                    min=0.7,
                    max=32.0,
                    step=0.1,
                    tooltip="Aperture as on the lens barrel: smaller number = wider aperture = more background "
                    "blur and thinner sharp zone (f/1.2 dreamy, f/2.8 gentle, f/8 nearly all sharp).",
                ),
                io.Float.Input(
                    "focus_distance_m",
                    default=0.0,
                    min=0.0,
                    max=1000.0,
                    step=0.01,
                    tooltip="Where the lens focuses, in metres from the lens. 0 = auto: on what focus_mask marks, "
                    "else on the eyes, else on the nearest region near the centre (the node shows what it chose).",
                ),
                io.Combo.Input(
                    "sensor",
                    options=list(SENSORS),
                    default=DEFAULT_SENSOR,
                    tooltip="Sensor size of the camera to imitate; with the focal length it sets the framing and "
                    "the blur in pixels. Should match the depth's (see depth_lens).",
                ),
                io.Int.Input(
                    "aperture_blades",
                    default=0,
                    min=0,
                    max=16,
                    tooltip="Number of aperture blades, which shapes the bokeh balls: 0 = perfectly round, "
                    "3..16 = polygons (e.g. 9 for a modern portrait lens).",
                ),
                io.Float.Input(
                    "blade_rotation_deg",
                    default=0.0,
                    min=-180.0,
                    max=180.0,
                    step=1.0,
                    tooltip="Turns the polygon of the aperture (degrees); no effect with a round aperture.",
                ),
                io.Float.Input(
                    "blade_curvature",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    tooltip="How curved the blades are: 0 = straight (polygon bokeh), 1 = round.",
                ),
                io.Float.Input(
                    "highlight_threshold",
                    default=0.9,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Brightness (luminance, 0..1; in the light's colour when a lighting is connected) above "
                    "which a small out-of-focus pixel counts as a clipped light source, rebuilt into a bright bokeh "
                    "ball. Saturated colours and large bright surfaces (a white shirt) are left as they are.",
                ),
                io.Float.Input(
                    "highlight_boost",
                    display_name="light brightness",
                    default=LIGHT_BOOST,
                    min=0.0,
                    max=1000.0,
                    step=0.5,
                    tooltip="How far past white the photo's lights really are: a clipped lamp, bulb or window that "
                    "the lens throws out of focus is rebuilt with 1 + this many times white in each clipped pixel, so "
                    "its disc glows and dims with its size as a real lamp's does (the photo's bright lights are "
                    "typically tens of times past white). That holds for lights in a dim scene; a light on a "
                    "brighter surround (a sunlit wall) gets proportionally less, as the photo's exposure was "
                    "shorter. Lights in focus are left as they are; 0 = off.",
                ),
                io.Mask.Input(
                    "focus_mask",
                    optional=True,
                    tooltip="Paint what must be sharp: with focus_distance_m 0 (auto) the lens focuses on it.",
                ),
                Lighting.Input(
                    "lighting",
                    optional=True,
                    tooltip="From Portrait Lighting Tint: gives rebuilt lights the light's colour (warm light, "
                    "warm bokeh). Without it each light takes the colour of its own unclipped fringe.",
                ),
                io.Combo.Input(
                    "depth_lens",
                    options=list(DEPTH_LENS_CHOICES),
                    default=WARN,
                    optional=True,
                    tooltip="The depth remembers the focal length and sensor its distances assumed. "
                    f"'{WARN}': a warning on the node when they differ from this lens. '{FOLLOW}': render with "
                    "the depth's focal length and sensor instead of the two inputs here.",
                ),
                io.Combo.Input(
                    "preview",
                    options=list(PREVIEWS),
                    default=PREVIEW_IMAGE,
                    optional=True,
                    tooltip=f"What the node shows: '{PREVIEW_IMAGE}' the result; '{PREVIEW_OVERLAY}' also the "
                    "result with the sharp zone tinted green (like focus peaking).",
                ),
                io.String.Input(
                    "focus_point",
                    default="",
                    optional=True,
                    tooltip="Focus on the depth under this point: 'x,y' from the top left, each 0..1 of the image "
                    "width and height (click the picture on the node to set it). Empty = off. Used when "
                    "focus_distance_m is 0 (auto); takes the place of focus_mask.",
                ),
                io.Combo.Input(
                    "lens_profile",
                    options=list(PROFILE_NAMES),
                    default=IDEAL,
                    optional=True,
                    tooltip=f"The lens's character. '{IDEAL}': a perfect lens with the aperture set above, the "
                    "same disc everywhere. The others are lens designs: cat's-eye discs toward the corners "
                    "(stronger wide open), swirl, magenta/green fringes either side of focus, bright-rimmed or "
                    "soft discs, oval anamorphic discs, and grain in the blur matching the sharp part. They bring "
                    "their own aperture blades (the three blade inputs then do not apply).",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The photo with the lens's background blur."),
                io.Mask.Output(
                    display_name="coc_px",
                    tooltip="Blur size per pixel: the blur circle's diameter in pixels (+ behind the focus, - in "
                    "front of it).",
                ),
                io.Mask.Output(
                    display_name="in_focus",
                    tooltip="Where the photo stays acceptably sharp (white) and where it blurs (black).",
                ),
                io.Float.Output(
                    display_name="focus_distance_m",
                    tooltip="The focus distance used in metres (the auto-focus result when focus_distance_m is 0).",
                ),
            ],
        )

    @classmethod
    def check_inputs(
        cls, focal_length_mm=None, focus_distance_m=None, aperture_blades=None, focus_point=None, **_
    ) -> str | None:
        if focus_distance_m and focal_length_mm and focus_distance_m * 1000.0 <= focal_length_mm:
            return (
                f"focus_distance_m {focus_distance_m} m is not farther than the focal length "
                f"({focal_length_mm} mm); set a larger distance or 0 for auto focus"
            )
        if aperture_blades in (1, 2):
            return f"aperture_blades must be 0 (circular) or 3..16, got {aperture_blades}"
        if focus_point:  # a linked value arrives as None
            try:
                parse_focus_point(focus_point)
            except ValueError as e:
                return str(e)
        return None

    @classmethod
    def execute(
        cls,
        image,
        depth: DepthMap,
        focal_length_mm,
        f_number,
        focus_distance_m,
        sensor,
        aperture_blades,
        blade_rotation_deg,
        blade_curvature,
        highlight_threshold,
        highlight_boost,
        focus_mask=None,
        lighting: LightingSetup | None = None,
        focus_point: str | None = None,
        depth_lens=None,
        preview=None,
        lens_profile: str | None = None,
    ) -> io.NodeOutput:
        profile = find_profile(lens_profile or IDEAL)
        focus = focus_mask_for(focus_point, focus_distance_m, focus_mask, image.shape[1], image.shape[2])
        if focus.note:
            log.warning("LensBokeh: %s", focus.note)
        focus_mask = focus.mask
        notes: list[str] = []
        depth_lens_used = assumed_lens(depth.meta)
        if depth_lens == FOLLOW and depth_lens_used is not None:
            focal_length_mm, sensor = depth_lens_used
            notes.append(f"lens from the depth: {focal_length_mm:g} mm, {sensor}")
        mismatch = lens_mismatch(depth.meta, focal_length_mm, sensor)
        lens = LensSettings(focal_length_mm, f_number, focus_distance_m, sensor)
        aperture = profile.aperture or Aperture(aperture_blades, blade_rotation_deg, blade_curvature)
        if profile.name != IDEAL:
            notes.append(f"lens profile: {profile.name}")
        highlights = highlights_under(lighting, highlight_threshold, highlight_boost)
        with caught_warnings("LensBokeh") as warned:
            result = render_lens_bokeh(
                image,
                depth.metres,
                lens,
                aperture,
                highlights,
                focus_mask=focus_mask,
                depth_meta=depth.meta,
                device=runtime.compute_device(),
                progress=runtime.progress(1000),
                character=profile.character,
                layer_alpha=depth.layer_alpha,
            )
        if mismatch:
            log.warning("LensBokeh: %s", mismatch)
            warned.append(mismatch)
        dev = runtime.output_device()
        hows = [
            "focus point" + h[len("focus mask") :] if focus.from_point and h.startswith("focus mask") else h
            for h in result.focus_how
        ]
        return io.NodeOutput(
            result.image.to(dev),
            result.coc_px.to(dev),
            result.in_focus.to(dev),
            float(result.focus_distance_m[0]),
            ui=_readout(result, hows, focal_length_mm, f_number, sensor, preview, notes, warned),
        )


def _readout(result, how, focal_length_mm, f_number, sensor, preview, notes, warned) -> dict:
    """The result (and on request the in-focus overlay); focus distance and how it was chosen."""
    focus = result.focus_distance_m
    lines = [f"focus: {d:.3g} m ({h}), {focal_length_mm:g} mm f/{f_number:g}" for d, h in zip(focus, how)] + notes
    images: tuple[torch.Tensor, ...] = (result.image,)
    if preview == PREVIEW_OVERLAY:
        images += (in_focus_overlay(result.image, result.in_focus),)
    labels = {
        "image": f"{focal_length_mm:g} mm f/{f_number:g}",
        "focus_distance_m": f"focus {metres(focus[0])} ({how[0]})",
    }
    values = {
        "focus_distance_m": list(focus),
        "focus_how": list(how),
        "focal_length_mm": focal_length_mm,
        "f_number": f_number,
        "sensor": sensor,
    }
    return node_ui(images=images, lines=lines, labels=labels, values=values, warnings=warned)
