"""Body relief from a BlazePose pose: how far each pixel of a person lies behind her eyes, in metres.

What it assumes, per region (also said in the DEPTH metadata):
- head (ears, eyes, nose; the face mesh's relief lies over it), torso, arms, hands, legs, neck: the
  pose's world landmarks (metres), linear along each bone, across the torso between shoulders and hips
  and up the neck to the eyes; elsewhere on the person the bones' values spread smoothly (a
  normalised convolution, wide where no bone is near);
- what she holds (her matte, not her body in the pose model's segmentation, next to a hand): round,
  centred on the depth of that hand (of the body around it when the hand is hidden: the pose's depth
  of a hand it does not see is a guess, unless the forearm it sees reaches towards the camera and puts the
  hand in front of that body), its front nearer by up to its half-width (a sphere on its
  outline: ``R·sqrt(1 − (1 − d/R)²)`` at ``d`` px inside the outline, ``R`` the largest such ``d``);
  a piece larger than :data:`HELD_SIZE` (a table she leans on) stays flat at the hand's depth;
- offsets are clamped to ``[NEAREST_M, FARTHEST_M]`` behind the eyes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .body_pose import BodyPose
from .head_relief import gaussian_blur

GRID = 160  # long side of the grid the field is built on
BONES = (
    (7, 8), (2, 5), (0, 2), (0, 5),  # head
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (15, 19), (16, 20),  # shoulders, arms, hands
    (23, 25), (25, 27), (24, 26), (26, 28),  # legs
)  # fmt: skip
TORSO = (11, 12, 24, 23)  # shoulders and hips, a quad
HANDS = ((15, 17, 19, 21), (16, 18, 20, 22))  # wrist, pinky, index, thumb per hand
NEAR_SIGMA, WIDE_SIGMA = 0.08, 0.6  # in shoulder widths
HELD = 0.3  # a matte pixel the body segmentation gives less than this is not her body
HELD_REACH = 0.6  # shoulder widths from a hand: what she holds
HELD_SIZE = 2.5  # shoulder widths: the farthest a held object's pixels lie from the hand holding it
SEEN = 0.5  # a pose landmark's visibility from which it counts as seen in the photo
# The elbow of an arm reaching forward with something in its hand is often half hidden by that very thing: its
# depth is trusted from this visibility on (the sample's: 0.46); a fully hidden arm (about 0.1) is not.
ELBOW_SEEN = 0.3
FOREARM_FORWARD = 0.05  # m: a wrist this much nearer than its elbow places a hidden hand (the arm reaches forward)
NEAREST_M, FARTHEST_M = -0.6, 0.6


def _samples(pose: BodyPose) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``[N,2]`` px along the bones and over the torso, and their offsets ``[N]`` m."""
    p, z = pose.points, pose.behind_eyes_m()
    t = torch.linspace(0, 1, 24)
    pts, vals = [], []
    for a, b in BONES:
        pts.append(p[a] + t[:, None] * (p[b] - p[a]))
        vals.append(z[a] + t * (z[b] - z[a]))
    u, v = torch.meshgrid(t, t, indexing="ij")
    u, v = u.reshape(-1, 1), v.reshape(-1, 1)
    a, b, c, d = TORSO  # left shoulder, right shoulder, right hip, left hip
    top, bottom = p[a] + u * (p[b] - p[a]), p[d] + u * (p[c] - p[d])
    pts.append(top + v * (bottom - top))
    zt, zb = z[a] + u[:, 0] * (z[b] - z[a]), z[d] + u[:, 0] * (z[c] - z[d])
    vals.append(zt + v[:, 0] * (zb - zt))
    # the neck: from between the shoulders up to between the eyes (offset 0 there)
    neck, eyes = (p[11] + p[12]) / 2, (p[2] + p[5]) / 2
    pts.append(neck + t[:, None] * (eyes - neck))
    vals.append((z[11] + z[12]) / 2 * (1 - t))
    return torch.cat(pts), torch.cat(vals)


def body_relief(
    pose: BodyPose, person: torch.Tensor, height: int, width: int, metres_per_px: float = 0.0
) -> tuple[torch.Tensor, dict[str, str]]:
    """Offset behind the eyes ``[height,width]`` metres over the person and what it assumed per region.

    person: ``[height,width]`` bool, her solid pixels in the matte (where held objects are looked for).
    metres_per_px: the picture's scale at her distance (distance / focal length in px); what she holds
    bulges towards the camera by its own size in metres (0: it stays flat at the hand's depth).
    """
    dev = person.device
    s = GRID / max(height, width)
    gh, gw = max(2, round(height * s)), max(2, round(width * s))
    pts, vals = _samples(pose)
    gx = (pts[:, 0] * gw / width).long()
    gy = (pts[:, 1] * gh / height).long()
    inside = (gx >= 0) & (gx < gw) & (gy >= 0) & (gy < gh)
    idx = (gy * gw + gx)[inside]
    weight = torch.zeros(gh * gw).index_add_(0, idx, torch.ones(len(idx))).view(1, 1, gh, gw)
    value = torch.zeros(gh * gw).index_add_(0, idx, vals[inside]).view(1, 1, gh, gw)
    shoulders = float((pose.points[11] - pose.points[12]).norm()) * gw / width
    shoulders = max(shoulders, 4.0)
    near, wide = max(1.0, NEAR_SIGMA * shoulders), max(2.0, WIDE_SIGMA * shoulders)
    wn, vn = gaussian_blur(weight, near), gaussian_blur(value, near)
    ww, vw = gaussian_blur(weight, wide), gaussian_blur(value, wide)
    z_wide = vw / ww.clamp_min(1e-8) if float(ww.max()) > 0 else torch.zeros_like(vw)
    cover = (wn / max(float(wn.amax()) * 0.25, 1e-8)).clamp(0, 1)
    field = cover * vn / wn.clamp_min(1e-8) + (1 - cover) * z_wide
    field = field.clamp(NEAREST_M, FARTHEST_M)
    out = F.interpolate(field, size=(height, width), mode="bilinear", align_corners=False)[0, 0].to(dev)
    notes = {
        "body": "BlazePose world landmarks: shoulders "
        f"{float(pose.behind_eyes_m()[[11, 12]].mean()):+.2f} m, hips "
        f"{float(pose.behind_eyes_m()[[23, 24]].mean()):+.2f} m from the eyes, smooth in between",
    }
    held = _held(pose, person, height, width, metres_per_px, out.cpu().numpy())
    if held is not None:
        mask, offset, hand_m, front_m, hidden, reached = held
        out = torch.where(mask, offset.to(out), out)
        notes["held"] = f"in her matte, not her body, next to a hand: centred on the hand's depth ({hand_m:+.2f} m"
        if reached:
            notes["held"] += ", where the hand is hidden its forearm reaching towards the camera places it)"
        else:
            notes["held"] += ", the body's around it where the hand is hidden)" if hidden else ")"
        if front_m > 0:
            notes["held"] += f", round: its front {front_m:.2f} m nearer"
    return out, notes


def holding_hand(pose: BodyPose, px: np.ndarray, py: np.ndarray) -> tuple[float, tuple[int, ...], bool] | None:
    """Which of her hands holds the piece at pixel centres ``px, py`` (px): ``(gap px, the hand's
    landmarks, small enough to hold)`` for the nearer hand within :data:`HELD_REACH` shoulder widths of
    it (small: no pixel farther than :data:`HELD_SIZE` from that hand); None when neither reaches it."""
    shoulders = max(float((pose.points[11] - pose.points[12]).norm()), 8.0)
    holder: tuple[float, tuple[int, ...], bool] | None = None
    for hand in HANDS:
        hx, hy = (float(v) for v in pose.points[list(hand)].mean(0))
        d = np.sqrt((px - hx) ** 2 + (py - hy) ** 2)
        gap = float(d.min())
        if gap <= HELD_REACH * shoulders and (holder is None or gap < holder[0]):
            holder = (gap, hand, float(d.max()) <= HELD_SIZE * shoulders)
    return holder


def _held(
    pose: BodyPose, person: torch.Tensor, height: int, width: int, metres_per_px: float, body_m: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, float, float, bool, bool] | None:
    """What she holds: its pixels ``[height,width]`` bool, their offsets behind the eyes ``[height,width]``
    m (each piece round about the depth of the hand holding it, or of ``body_m [height,width]``, the body's
    offsets, around it when that hand is hidden and its forearm does not reach forward), the nearest such
    centre, the largest bulge (m), whether a hand was hidden and whether a hidden hand's forearm placed its
    piece; None when nothing is held."""
    import cv2

    body = pose.body.to(person.device)
    cand = (person & (body < HELD)).cpu().numpy().astype(np.uint8)
    shoulders = max(float((pose.points[11] - pose.points[12]).norm()), 8.0)
    r = max(1, round(0.03 * shoulders))  # slivers along the body's outline are not objects
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    opened = cv2.morphologyEx(cand, cv2.MORPH_OPEN, kernel)
    n, pieces, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n <= 1:
        return None
    z = pose.behind_eyes_m()
    mask = np.zeros((height, width), bool)
    offset = np.zeros((height, width), np.float32)
    depth, front, hidden, reached = None, 0.0, False, False
    min_area = (0.1 * shoulders) ** 2
    for c in range(1, n):
        if stats[c, cv2.CC_STAT_AREA] < min_area:
            continue
        # the piece's box, 4 px wider (the ring below reaches 3 px out), cut at the frame's edges
        x0, y0, w, h = (int(v) for v in stats[c, :4])
        x0, y0, x1, y1 = max(0, x0 - 4), max(0, y0 - 4), min(width, x0 + w + 4), min(height, y0 + h + 4)
        piece = pieces[y0:y1, x0:x1] == c
        iy, ix = np.nonzero(piece)
        px, py = ix + x0 + 0.5, iy + y0 + 0.5
        holder = holding_hand(pose, px, py)
        if holder is None:
            continue
        _, held_by, small = holder
        if float(pose.visibility[list(held_by)].mean()) >= SEEN:
            centre = float(z[list(held_by)].mean())
        else:  # the hand is hidden (behind what it holds): the body around it instead
            ring = (cv2.dilate(piece.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & ~piece
            around = body_m[y0:y1, x0:x1][ring]
            centre = float(np.median(around)) if around.size else 0.0
            hidden = True
            # unless its forearm reaches towards the camera and puts the hand in front of that body
            reach = _reaching_hand(pose, held_by)
            if reach is not None and reach < centre:
                centre, reached = reach, True
        mask[y0:y1, x0:x1] |= piece
        # round if it is no larger than what one holds; a table she leans on stays flat
        bulge = _round_front(piece) * metres_per_px if small else np.zeros(piece.shape, np.float32)
        offset[y0:y1, x0:x1][piece] = np.maximum(centre - bulge[piece], NEAREST_M)
        depth = centre if depth is None else min(depth, centre)
        front = max(front, float(bulge.max()))
    if depth is None:
        return None
    dev = person.device
    return torch.from_numpy(mask).to(dev), torch.from_numpy(offset).to(dev), depth, front, hidden, reached


def _reaching_hand(pose: BodyPose, hand: tuple[int, ...]) -> float | None:
    """The depth (m behind the eyes) of ``hand`` (its landmarks) where its forearm reaches towards the camera:
    its wrist nearer than its elbow by :data:`FOREARM_FORWARD` or more; None otherwise. The pose places a hidden
    hand by the arm it sees, so an arm held forward puts what the hand holds in front of the body."""
    z = pose.behind_eyes_m()
    wrist = hand[0]
    elbow = wrist - 2  # BlazePose: 13/14 elbows, 15/16 wrists
    if float(pose.visibility[elbow]) < ELBOW_SEEN:  # an arm the photo does not show says nothing of its reach
        return None
    if float(z[elbow] - z[wrist]) < FOREARM_FORWARD:
        return None
    return float(z[list(hand)].mean())


def _round_front(piece: np.ndarray) -> np.ndarray:
    """``[H,W]`` px: how far a round object with outline ``piece`` (bool ``[H,W]``) bulges towards the
    camera, a sphere's cap on the outline's inscribed radius: ``R·sqrt(1 − (1 − d/R)²)`` at distance ``d``
    px inside the outline, ``R`` the largest ``d``."""
    import cv2

    d = cv2.distanceTransform(piece.astype(np.uint8), cv2.DIST_L2, 5)
    radius = float(d.max())
    if radius <= 0:
        return d
    return radius * np.sqrt(np.clip(1.0 - (1.0 - d / radius) ** 2, 0.0, 1.0)) * piece
