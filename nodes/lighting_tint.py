"""LightingTint: a lighting setup for the portrait that also sets the colour of the bokeh."""

from __future__ import annotations

import logging

from comfy_api.latest import io

from portraitos.engine.lighting import DEFAULT_PRESET, PRESETS, LightingParams, relight
from portraitos.services import runtime
from portraitos.services.readout import caught_warnings, node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_LIGHT, Depth, Lighting
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")


class LightingTint(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = (
        "lighting",
        "relight",
        "white balance",
        "colour grade",
        "color grade",
        "warm",
        "cool",
        "bokeh colour",
    )

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LightingTint",
            display_name="Portrait Lighting Tint",
            category=CATEGORY_LIGHT,
            description="Re-light a portrait's colour: a key light on the face and an ambient light on the "
            "background, each with its own colour temperature (warm cinematic, cool studio, golden hour…), "
            "adapted in linear light. Its lighting output gives Portrait Bokeh's bokeh balls the light's colour. "
            "Shows the result and the temperatures used.",
            inputs=[
                io.Image.Input(
                    "image",
                    tooltip="The portrait to re-light (one photo or a batch); an alpha channel passes through "
                    "unchanged.",
                ),
                io.Combo.Input(
                    "preset",
                    options=list(PRESETS),
                    default=DEFAULT_PRESET,
                    tooltip="A lighting look to start from; "
                    + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()),
                ),
                io.Float.Input(
                    "key_temperature_k",
                    default=0.0,
                    min=0.0,
                    max=20000.0,
                    step=50.0,
                    tooltip="Colour temperature of the key light on the face in kelvin (3200 K tungsten, 5600 K "
                    "daylight). 0 = auto: the preset's.",
                ),
                io.Float.Input(
                    "ambient_temperature_k",
                    default=0.0,
                    min=0.0,
                    max=20000.0,
                    step=50.0,
                    tooltip="Colour temperature of the ambient light on the background in kelvin. 0 = auto: the "
                    "preset's.",
                ),
                io.Float.Input(
                    "tint",
                    default=0.0,
                    min=-1.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Colour shift across the temperature line, as a white-balance tint slider: magenta (−) "
                    "… green (+); 0 = none.",
                ),
                io.Float.Input(
                    "intensity",
                    default=1.0,
                    min=0.0,
                    max=4.0,
                    step=0.01,
                    tooltip="Overall brightness of the new light, like an exposure change (1 = unchanged).",
                ),
                io.Float.Input(
                    "contrast",
                    default=1.0,
                    min=0.5,
                    max=2.0,
                    step=0.01,
                    tooltip="Difference between lit and shadowed areas (1 = unchanged, above 1 = harder light).",
                ),
                io.Float.Input(
                    "key_direction_deg",
                    default=0.0,
                    min=-180.0,
                    max=180.0,
                    step=1.0,
                    tooltip="Where the key light comes from, seen from the camera: 0 = right, 90 = above, "
                    "180 = left (needs depth and key_strength above 0).",
                ),
                io.Float.Input(
                    "key_strength",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="How strongly the key light shapes the face with light and shadow from the depth "
                    "(0 = off: colour only).",
                ),
                io.Float.Input(
                    "strength",
                    default=1.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Mix of the re-lit picture with the original (1 = fully re-lit, 0 = original).",
                ),
                Depth.Input(
                    "depth",
                    optional=True,
                    tooltip="From Portrait Depth: puts the key light on the subject and the ambient on the "
                    "background, and gives key_strength its shape.",
                ),
                io.Mask.Input(
                    "subject_mask",
                    optional=True,
                    tooltip="The person (white): gets the key light; the rest gets the ambient light.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The re-lit portrait."),
                Lighting.Output(
                    display_name="lighting",
                    tooltip="The light's colours, for Portrait Bokeh's lighting input (coloured bokeh balls).",
                ),
            ],
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
        with caught_warnings("LightingTint") as notes:
            out, setup = relight(
                image.to(dev),
                params,
                metres,
                mask,
                progress=runtime.progress(1000),
                people_alpha=None if depth is None or depth.layer_alpha is None else depth.layer_alpha.to(dev),
            )
        out = out.to(runtime.output_device())
        return io.NodeOutput(out, setup, ui=_readout(out, setup, notes))


def _readout(image, setup, warned: list[str]) -> dict:
    """The re-lit result; the preset and the key and ambient temperatures used."""
    key, ambient = setup.key_cct_k, setup.ambient_cct_k
    return node_ui(
        images=(image,),
        lines=[f"{setup.name}: key {key:.0f} K, ambient {ambient:.0f} K"],
        labels={"lighting": f"key {key:.0f} K · ambient {ambient:.0f} K"},
        values={"preset": setup.name, "key_temperature_k": key, "ambient_temperature_k": ambient},
        warnings=warned,
    )
