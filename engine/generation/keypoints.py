"""InstantID's keypoint image: the five face points drawn as coloured limbs and dots on black, the
ControlNet ("IdentityNet") condition, placed where the portrait's face should be.

Points ``[5,2]`` pixels in InsightFace order: image-left eye, image-right eye, nose, image-left mouth
corner, image-right mouth corner. Images are ``[H,W,3]`` float 0..1 tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255))
LIMBS = ((0, 2), (1, 2), (3, 2), (4, 2))  # every point to the nose
LIMB_HALF_WIDTH = 4
LIMB_DIM = 0.6
DOT_RADIUS = 10
FACE_WIDTH_OF_FRAME = 0.30  # head-and-shoulders at 85 mm: the face box spans about 30 % of the width
FACE_CENTRE_Y = 0.36  # of the height


def place_keypoints(kps: torch.Tensor, box: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Move and scale the source photo's points ``[5,2]`` (face box ``[4]``) so that the face sits as
    in a head-and-shoulders portrait of ``width`` × ``height``. Returns ``[5,2]`` pixels."""
    kps, box = kps.float(), box.float()
    scale = FACE_WIDTH_OF_FRAME * width / float((box[2] - box[0]).clamp_min(1.0))
    centre = torch.stack([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    target = torch.tensor([width / 2, FACE_CENTRE_Y * height])
    return (kps - centre) * scale + target


def draw_keypoints(kps: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The keypoint image ``[height,width,3]``: limbs from each point to the nose (filled ellipses in
    the outer point's colour, dimmed to 60 %), then a full-colour dot on every point."""
    import cv2

    pts = np.asarray(kps, dtype=np.float64)
    canvas = np.zeros((height, width, 3), np.uint8)
    for a, b in LIMBS:
        (xa, ya), (xb, yb) = pts[a], pts[b]
        length = math.hypot(xa - xb, ya - yb)
        angle = int(math.degrees(math.atan2(ya - yb, xa - xb)))
        centre = (int((xa + xb) / 2), int((ya + yb) / 2))
        polygon = cv2.ellipse2Poly(centre, (int(length / 2), LIMB_HALF_WIDTH), angle, 0, 360, 1)
        cv2.fillConvexPoly(canvas, np.asarray(polygon, np.int32), COLOURS[a])
    canvas = (canvas * LIMB_DIM).astype(np.uint8)
    for (x, y), colour in zip(pts, COLOURS):
        cv2.circle(canvas, (int(x), int(y)), DOT_RADIUS, colour, -1)
    return torch.from_numpy(canvas).float() / 255
