"""A person matte from MediaPipe's selfie segmentation, refined at full resolution along the image's
edges by a colour guided filter, so hair gets a soft alpha and the matte's edge follows the photo.

IMAGE ``[H,W,3]`` float 0..1 in; matte ``[H,W]`` 0..1 (1 = person) out, on the image's device.
The model sees the whole frame stretched to 256×256 (as MediaPipe feeds it); objects the person
holds are usually part of its person class, objects behind the person are not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.guided_filter import guided_filter
from ..core.progress import Progress
from ..faces.crop import Region, crop
from ..mediapipe import SELFIE_SEGMENTATION, get_model

MODEL_SIDE = 256
PERSON = 0.5  # probability at which a pixel counts as person
MIN_PERSON_FRACTION = 0.01
STEEPEN = 3.0  # slope applied to the upsampled probability around 0.5  # less than this of the frame: no person found


@torch.no_grad()
def person_probability(image: torch.Tensor) -> torch.Tensor:
    """Person probability ``[256,256]`` of ``image [H,W,3]`` 0..1 (the frame stretched to the grid)."""
    H, W, _ = image.shape
    x = crop(image, Region(W / 2, H / 2, W, H), MODEL_SIDE, MODEL_SIDE)
    out = get_model(SELFIE_SEGMENTATION, image.device)(x)
    return out["activation_10"][0, ..., 0].float().clamp(0, 1)


def found_person(prob: torch.Tensor) -> bool:
    """Whether the segmentation holds a person (enough confident pixels)."""
    return float((prob > PERSON).float().mean()) >= MIN_PERSON_FRACTION and float(prob.max()) > 0.9


@torch.no_grad()
def refine_to_image(
    prob: torch.Tensor,
    image: torch.Tensor,
    eps: float = 2e-3,
    progress: Progress = Progress(),
) -> torch.Tensor:
    """The low-resolution probability ``[h,w]`` brought to ``image [H,W,3]``'s size, its edge moved onto
    the image's edges by a guided filter whose window spans about two model cells. ``progress`` counts rows
    after each band, where Cancel is honoured."""
    H, W, _ = image.shape
    up = F.interpolate(prob[None, None], size=(H, W), mode="bilinear", align_corners=False)[0]
    # the model's edge is several cells wide: steepen it to about one cell, then let the image place it
    up = ((up - 0.5) * STEEPEN + 0.5).clamp(0, 1)
    cell = max(H / prob.shape[0], W / prob.shape[1])
    radius = max(2, round(1.5 * cell))
    # fast guided filter: coefficients at about half a model cell per sample (the matte has no finer
    # detail to keep), applied to the full-resolution image, in bands of rows to bound memory
    sub = max(1, round(cell / 2))
    guide = image.permute(2, 0, 1)[None].to(up.dtype)
    src = up[None]
    out = torch.empty_like(up)
    halo = 4 * radius + 2 * sub
    band = max(256, 2048 // sub * sub)
    y = 0
    while y < H:
        y1 = min(H, y + band)
        a0, a1 = max(0, y - halo), min(H, y1 + halo)
        part = guided_filter(guide[:, :, a0:a1], src[:, :, a0:a1], radius, eps, subsample=sub)
        out[:, y:y1] = part[0, :, y - a0 : y1 - a0]
        y = y1
        progress.check()
        progress.advance(y, H)
    return out[0].clamp(0, 1)
