"""PortraitOS for ComfyUI: optical lens bokeh, metric depth and lighting for portraits.

ComfyUI loads this file; nodes are registered through the V3 entry point below (no
NODE_CLASS_MAPPINGS, which would make ComfyUI ignore the entry point).
"""

WEB_DIRECTORY = "./js"


async def comfy_entrypoint():
    from .nodes import PortraitOSExtension

    return PortraitOSExtension()
