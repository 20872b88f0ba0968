"""The custom ComfyUI socket types of PortraitOS, defined in this one place.

DEPTH     ``engine.depth.DepthMap``: metric depth in metres ``[B,H,W]`` float32 and metadata
          (``source``: measured / estimated / calibrated / assumed; ``meta``: model, assumptions,
          focus hints).
LIGHTING  ``engine.lighting.LightingSetup``: a lighting preset's key and ambient illuminants
          (linear RGB and CCT) and the colour and intensity it gives rebuilt bokeh highlights.
IDENTITY  ``engine.identity.Identity``: a stored face identity (embedding, landmarks, crops, metadata with
          the face pack that made it), from IdentityLoader; used by PortraitGenerate and IdentityScore.

IMAGE and MASK are ComfyUI's own: ``[B,H,W,C]`` float 0..1 and ``[B,H,W]`` float 0..1.
"""

from comfy_api.latest import io

Depth = io.Custom("DEPTH")
Lighting = io.Custom("LIGHTING")
Identity = io.Custom("IDENTITY")

CATEGORY = "PortraitOS"
"""The pack's root in the node library; each node sits in one of the groups below."""
CATEGORY_DEPTH = f"{CATEGORY}/Depth"
CATEGORY_LENS = f"{CATEGORY}/Lens"
CATEGORY_LIGHT = f"{CATEGORY}/Light"
CATEGORY_IDENTITY = f"{CATEGORY}/Identity"
CATEGORY_GENERATE = f"{CATEGORY}/Generate"
