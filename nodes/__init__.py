"""ComfyUI nodes of PortraitOS: thin adapters over ``engine``."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .depth_estimate import DepthEstimate
from .depth_from_image import DepthFromImage
from .depth_load import DepthLoad
from .identity_loader import IdentityLoader
from .identity_score import IdentityScore
from .lens_bokeh import LensBokeh
from .lighting_tint import LightingTint
from .portrait_generate import PortraitGenerate
from .portrait_identity_apply import PortraitIdentityApply

NODES: list[type[io.ComfyNode]] = [
    DepthEstimate,
    DepthLoad,
    DepthFromImage,
    IdentityLoader,
    IdentityScore,
    LensBokeh,
    LightingTint,
    PortraitGenerate,
    PortraitIdentityApply,
]


class PortraitOSExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
