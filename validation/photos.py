"""Real photos the measurements and the documentation pictures run on (no model weights, nothing fetched):
skimage's astronaut (the shipped sample) and every picture InsightFace's package ships
(``insightface/data/images``: a group photo, a portrait, masked faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def photos(long_side: int) -> dict[str, torch.Tensor]:
    """name -> ``[H,W,3]`` sRGB 0..1, resized so the long side is ``long_side`` px (at most)."""
    import insightface
    from PIL import Image
    from skimage import data

    out = {"astronaut": torch.from_numpy(data.astronaut()).float() / 255}
    folder = Path(insightface.__file__).parent / "data" / "images"
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in (".jpg", ".png"):
            out[path.stem] = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).float() / 255
    for name, img in out.items():
        H, W = img.shape[:2]
        s = long_side / max(H, W)
        if s < 1:
            size = (round(H * s), round(W * s))
            out[name] = F.interpolate(img.permute(2, 0, 1)[None], size=size, mode="area")[0].permute(1, 2, 0)
    return out
