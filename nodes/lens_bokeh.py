"""LensBokeh: thin-lens background separation rendered by scattering light over the aperture."""

from __future__ import annotations

import logging
import warnings

from comfy_api.latest import io, ui

from portraitos.engine.depth import DepthMap
from portraitos.engine.lens import DEFAULT_SENSOR, SENSORS, Aperture, LensSettings, highlights_under, render_lens_bokeh
from portraitos.engine.lens.focus_point import focus_point_mask, parse_focus_point
from portraitos.engine.lighting import LightingSetup

from . import checks, runtime
from .types import CATEGORY, Depth, Lighting

log = logging.getLogger("PortraitOS")


class LensBokeh(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LensBokeh",
            display_name="Lens Bokeh (optical)",
            category=CATEGORY,
            description="Background separation as a real lens renders it: thin-lens circle of confusion from "
            "focal length, f-number and focus distance; light scattered over an aperture-shaped disc "
            "in linear light; clipped highlights rebuilt; correct occlusion.",
            inputs=[
                io.Image.Input("image", tooltip="RGB or RGBA; an alpha channel passes through unchanged (not blurred)"),
                Depth.Input("depth", tooltip="Metric depth in metres (DepthLoad or DepthEstimate)"),
                io.Float.Input("focal_length_mm", default=85.0, min=10.0, max=400.0, step=1.0),
                io.Float.Input("f_number", default=1.8, min=0.7, max=32.0, step=0.1),
                io.Float.Input(
                    "focus_distance_m",
                    default=0.0,
                    min=0.0,
                    max=1000.0,
                    step=0.01,
                    tooltip="0 = auto: focus mask, else the eyes, else the nearest central region",
                ),
                io.Combo.Input("sensor", options=list(SENSORS), default=DEFAULT_SENSOR),
                io.Int.Input("aperture_blades", default=0, min=0, max=16, tooltip="0 = circular; 3..16 blades"),
                io.Float.Input("blade_rotation_deg", default=0.0, min=-180.0, max=180.0, step=1.0),
                io.Float.Input(
                    "blade_curvature",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    tooltip="0 = straight blades, 1 = round",
                ),
                io.Float.Input(
                    "highlight_threshold",
                    default=0.9,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Display value (brightest channel) above which pixels are treated as light sources",
                ),
                io.Float.Input(
                    "highlight_boost",
                    default=8.0,
                    min=0.0,
                    max=100.0,
                    step=0.1,
                    tooltip="Extra brightness of clipped highlights before blurring (0 = off)",
                ),
                io.Mask.Input("focus_mask", optional=True, tooltip="Focus on what this mask marks"),
                Lighting.Input("lighting", optional=True, tooltip="From LightingTint: colours rebuilt highlights"),
                io.String.Input(
                    "focus_point",
                    default="",
                    optional=True,
                    tooltip="Focus on the depth under this point: 'x,y' from the top left, each 0..1 of the image "
                    "width and height (click the picture on the node to set it). Empty = off. Used when "
                    "focus_distance_m is 0 (auto); takes the place of focus_mask.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="image"),
                io.Mask.Output(
                    display_name="coc_px", tooltip="Signed CoC diameter in pixels (+ behind focus, - in front)"
                ),
                io.Mask.Output(display_name="in_focus"),
                io.Float.Output(display_name="focus_distance_m"),
            ],
        )

    @classmethod
    def validate_inputs(
        cls,
        image=None,
        depth=None,
        focal_length_mm=None,
        f_number=None,
        focus_distance_m=None,
        sensor=None,
        aperture_blades=None,
        blade_rotation_deg=None,
        blade_curvature=None,
        highlight_threshold=None,
        highlight_boost=None,
        focus_mask=None,
        lighting=None,
        focus_point=None,
    ) -> bool | str:
        problem = checks.first(
            checks.connected(cls, image=image, depth=depth, focus_mask=focus_mask, lighting=lighting),
            checks.options(cls, sensor=sensor),
            checks.numbers(
                cls,
                focal_length_mm=focal_length_mm,
                f_number=f_number,
                focus_distance_m=focus_distance_m,
                aperture_blades=aperture_blades,
                blade_rotation_deg=blade_rotation_deg,
                blade_curvature=blade_curvature,
                highlight_threshold=highlight_threshold,
                highlight_boost=highlight_boost,
            ),
        )
        if problem is not True:
            return problem
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
        return True

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
    ) -> io.NodeOutput:
        point = parse_focus_point(focus_point)
        if point is not None:
            if focus_distance_m > 0:
                log.warning("LensBokeh: focus_point %s is ignored because focus_distance_m is set", focus_point)
            focus_mask = focus_point_mask(point, image.shape[1], image.shape[2]).unsqueeze(0)
        lens = LensSettings(focal_length_mm, f_number, focus_distance_m, sensor)
        aperture = Aperture(aperture_blades, blade_rotation_deg, blade_curvature)
        highlights = highlights_under(lighting, highlight_threshold, highlight_boost)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = render_lens_bokeh(
                image,
                depth.metres,
                lens,
                aperture,
                highlights,
                focus_mask=focus_mask,
                depth_meta=depth.meta,
                device=runtime.compute_device(),
                progress=runtime.progress_callback(1000),
                check_interrupt=runtime.check_interrupt,
            )
        notes = [str(w.message) for w in caught]
        for n in notes:
            log.warning("LensBokeh: %s", n)
        dev = runtime.output_device()
        focus = result.focus_distance_m
        hows = ["focus point" if point is not None and h == "focus mask" else h for h in result.focus_how]
        text = ", ".join(f"{d:.3g} m ({how})" for d, how in zip(focus, hows))
        return io.NodeOutput(
            result.image.to(dev),
            result.coc_px.to(dev),
            result.in_focus.to(dev),
            float(focus[0]),
            ui=ui.PreviewText("\n".join([f"focus: {text}", *notes])),
        )
