"""LightingTint: a lighting setup for the portrait that also sets the colour of the bokeh."""

from __future__ import annotations

import logging
import warnings

from comfy_api.latest import io, ui

from portraitos.engine.lighting import DEFAULT_PRESET, PRESETS, LightingParams, relight

from . import checks, runtime
from .types import CATEGORY, Depth, Lighting

log = logging.getLogger("PortraitOS")


class LightingTint(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LightingTint",
            display_name="Lighting Tint",
            category=CATEGORY,
            description="Re-light the portrait with a key and an ambient illuminant (chromatic adaptation in "
            "linear light) and output a LIGHTING that colours LensBokeh's highlights.",
            inputs=[
                io.Image.Input("image", tooltip="RGB or RGBA; an alpha channel passes through unchanged"),
                io.Combo.Input(
                    "preset",
                    options=list(PRESETS),
                    default=DEFAULT_PRESET,
                    tooltip="; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()),
                ),
                io.Float.Input(
                    "key_temperature_k", default=0.0, min=0.0, max=20000.0, step=50.0, tooltip="0 = the preset's"
                ),
                io.Float.Input(
                    "ambient_temperature_k", default=0.0, min=0.0, max=20000.0, step=50.0, tooltip="0 = the preset's"
                ),
                io.Float.Input("tint", default=0.0, min=-1.0, max=1.0, step=0.01, tooltip="magenta (−) … green (+)"),
                io.Float.Input("intensity", default=1.0, min=0.0, max=4.0, step=0.01),
                io.Float.Input("contrast", default=1.0, min=0.5, max=2.0, step=0.01),
                io.Float.Input(
                    "key_direction_deg",
                    default=0.0,
                    min=-180.0,
                    max=180.0,
                    step=1.0,
                    tooltip="Where the key comes from: 0 = right, 90 = above (needs depth)",
                ),
                io.Float.Input(
                    "key_strength",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Directional key shading from depth normals (0 = off)",
                ),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01),
                Depth.Input("depth", optional=True, tooltip="Key on the subject, ambient on the background"),
                io.Mask.Input("subject_mask", optional=True),
            ],
            outputs=[io.Image.Output(display_name="image"), Lighting.Output(display_name="lighting")],
        )

    @classmethod
    def validate_inputs(
        cls,
        image=None,
        preset=None,
        key_temperature_k=None,
        ambient_temperature_k=None,
        tint=None,
        intensity=None,
        contrast=None,
        key_direction_deg=None,
        key_strength=None,
        strength=None,
        depth=None,
        subject_mask=None,
    ) -> bool | str:
        return checks.first(
            checks.connected(cls, image=image, depth=depth, subject_mask=subject_mask),
            checks.options(cls, preset=preset),
            checks.numbers(
                cls,
                key_temperature_k=key_temperature_k,
                ambient_temperature_k=ambient_temperature_k,
                tint=tint,
                intensity=intensity,
                contrast=contrast,
                key_direction_deg=key_direction_deg,
                key_strength=key_strength,
                strength=strength,
            ),
        )

    @classmethod
    def execute(
        cls,
        image,
        preset,
        key_temperature_k,
        ambient_temperature_k,
        tint,
        intensity,
        contrast,
        key_direction_deg,
        key_strength,
        strength,
        depth=None,
        subject_mask=None,
    ) -> io.NodeOutput:
        params = LightingParams(
            preset,
            key_temperature_k,
            ambient_temperature_k,
            tint,
            intensity,
            contrast,
            key_direction_deg,
            key_strength,
            strength,
        )
        dev = runtime.compute_device()
        metres = None if depth is None else depth.metres.to(dev)
        mask = None if subject_mask is None else subject_mask.to(dev)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, setup = relight(image.to(dev), params, metres, mask)
        notes = [str(w.message) for w in caught]
        for n in notes:
            log.warning("LightingTint: %s", n)
        text = "\n".join([f"{setup.name}: key {setup.key_cct_k:.0f} K, ambient {setup.ambient_cct_k:.0f} K", *notes])
        return io.NodeOutput(out.to(runtime.output_device()), setup, ui=ui.PreviewText(text))
