"""The background's own depth, without weights: a receding plane found from how the photo's texture
shrinks with distance, fixed in metres by the people.

Geometry (a pinhole camera, image rows y downwards, focal length f in pixels):
- Inverse depth is linear in image coordinates across any plane: 1/Z = k·(a·x + b·y + c). It is zero
  on the plane's vanishing line (a level ground's is the horizon, Z = h·f/(y − y_horizon); an oblique
  façade's is a vertical line through its vanishing point), so once that line is known, one number k
  (one metric anchor) fixes the whole plane.
- A texture that is the same all over a surface looks smaller with distance: its image period shrinks
  as 1/Z along the surface's level direction and as 1/Z² along the direction it recedes in (the
  foreshortening grows with distance for a slanted plane). Its local frequency ν (the gradient's energy
  over the contrast's, per tile) therefore grows as Z^1.5 on a receding plane, and the relative inverse
  depth is ν^(−2/3). A plane fitted to it over the background's tiles (robustly: lamps, edges and
  plain patches are outliers) gives the vanishing line, the direction the background recedes in and
  how far it recedes.
- No evidence, no structure: a backdrop whose texture does not change scale across the frame (a
  fronto-parallel wall, a plain studio backdrop, a blurred background with no texture) stays one plane
  at the assumed distance. Evidence is a fitted plane that explains the tiles' scale and spans a depth
  ratio of at least :data:`MIN_RATIO` over the background.
- Metric anchor, in this order: a person whose outline ends above the frame's bottom on a ground-like
  plane stands there (the ground at her lowest row is at her distance: her ground contact); else the
  background's nearest part is just behind the people (:data:`BEHIND` × the farthest person's
  distance): the nearest the background can be when nothing in it is in front of them, so blur is
  never invented in excess.

Units: metres, pixels; tensors ``[H,W]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
import torch.nn.functional as F

from ..core.box_filter import dilate

ENABLED = True  # off: every background is one plane at the assumed distance (benchmarks compare the two)
PEOPLE_ON_GROUND = True  # off: contacts from the outlines only, no ground from them alone (benchmarks compare)
WORK_SIDE = 512  # the texture's scale is measured at this long side
EXPONENT = 1.3  # relative inverse depth = frequency^-EXPONENT (1.5 in theory; less fine texture saturates)
TILE = 24  # px at the working size: the tiles the local frequency is measured over (half-overlapping)
MIN_CONTRAST = 0.012  # a tile's grey-level standard deviation (0..1) below this is plain: no evidence
MIN_TILES = 24  # a plane is fitted only to at least this many textured background tiles
MIN_RATIO = 1.6  # the fitted plane must span at least this depth ratio over the background
MIN_R2 = 0.35  # and explain at least this share of the tiles' (log) scale variance
BEHIND = 1.25  # the background's nearest part at least this many times the farthest person's distance
FAR_LIMIT_M = 1000.0  # what is at or beyond the vanishing line ("infinity") is placed here
NEAR_LIMIT_M = 0.3  # nothing in the background is nearer than this
SQUEEZED = 1.15  # a ground tile's texture is this much finer vertically than across (foreshortening)
MIN_GROUND_TILES = 16  # a ground plane needs at least this many ground tiles
MIN_GROUND_AGREEMENT = 0.65  # whose frequency follows the ground model's distance this well (correlation)
UNRESOLVED = 1.15  # rad/px: a tile's texture this fine or finer is at the pixels' limit (noise: 1.41)
CONTACT_MARGIN = 0.03  # a person's outline ending this share of the height above the bottom stands there
JUNCTION_STEP = 3.0  # the floor meets a wall where the rows' colour steps by this many times its spread
JUNCTION_MIN_STEP = 0.04  # and by at least this much (sRGB 0..1, the rows' median colours)
MIN_FREE_ROW = 0.1  # a row's colour is measured where at least this share of it is clear of people
IN_FRONT = 0.9  # matte pixels outside every body where the ground is nearer than this × the person's depth


@dataclass
class Standing:
    """One person for the layout: her eyes' distance (m) and, when her outline ends above the frame's
    bottom, where (x, y in pixels of the full image): her ground contact."""

    distance_m: float
    contact_xy: Optional[tuple[float, float]] = None
    eye_y: Optional[float] = None  # her eyes' row, pixels from the top


@dataclass
class Layout:
    """The background's depth: ``depth`` ``[H,W]`` metres (everywhere; the people's pixels take theirs
    elsewhere), ``summary`` for the read-out, ``meta`` (JSON-able) saying what was assumed and why."""

    depth: torch.Tensor
    receding: bool
    summary: str
    meta: dict[str, Any] = field(default_factory=dict)


def background_layout(
    image: torch.Tensor,
    people_mask: torch.Tensor,
    standing: list[Standing],
    background_distance_m: float,
    in_front: Optional[torch.Tensor] = None,
) -> Layout:
    """The background's depth for ``image [H,W,3]`` sRGB 0..1 with the people at ``people_mask [H,W]``
    bool: a ground plane (and what stands on it) or a receding plane when the texture shows one (see
    the module's text), else the ground the people stand on where the photo shows where it meets a wall
    (:func:`_contact_layout`), else one plane at ``background_distance_m``. ``standing`` lists the people
    (their distances, eye rows and ground contacts); ``in_front`` ``[H,W]`` bool (:func:`floor_in_front`),
    the floor or a table in front of them, takes the ground's depth whatever the rest."""
    H, W, _ = image.shape
    flat = torch.full((H, W), float(background_distance_m), device=image.device)
    if not ENABLED:
        return Layout(flat, False, f"one plane {background_distance_m:g} m (layout off)", {"background": "layout off"})
    tiles = measure_tiles(image, people_mask)
    horizon, horizon_from = estimate_horizon(standing, H)
    if in_front is not None and not bool(in_front.any()):
        in_front = None
    ground = fit_ground(tiles, horizon, H, W)
    if ground is not None:
        out = _ground_layout(ground, horizon, horizon_from, standing, background_distance_m, people_mask)
        return _with_front(out, in_front, standing, horizon)
    # the ground the people stand on, where the photo shows a floor meeting a wall, before the texture's
    # plane (a floor and a wall of two textures can pass for one receding plane)
    contact = _contact_layout(image, people_mask, standing, horizon, horizon_from, background_distance_m, in_front)
    if contact is not None and "junction_row" in contact.meta:
        return contact
    fit = fit_receding_plane(tiles, H, W)
    if fit.plane is None:
        # no wall's foot behind the people: the ground in front of them where the photo shows its edge
        front = _contact_layout(
            image, people_mask, standing, horizon, horizon_from, background_distance_m, in_front, to_bottom=True
        )
        if front is not None:
            return front
        why = {"background": f"one plane at {background_distance_m:g} m (assumed)", "evidence": fit.why}
        return Layout(flat, False, f"one plane {background_distance_m:g} m (assumed: {fit.why})", why)
    a, b, c = fit.plane  # relative inverse depth at full-resolution pixel centres (x, y)
    yy = torch.arange(H, device=image.device, dtype=torch.float32).view(-1, 1) + 0.5
    xx = torch.arange(W, device=image.device, dtype=torch.float32).view(1, -1) + 0.5
    rel = a * xx + b * yy + c
    bg = ~people_mask
    r_near = _quantile(_over(rel, bg), 0.98)
    nearest_behind = BEHIND * max((p.distance_m for p in standing), default=0.0)
    near_m = nearest_behind if nearest_behind > 0 else background_distance_m
    k, anchored = 1.0 / (near_m * max(r_near, 1e-9)), f"nearest part {near_m:.2f} m, just behind the people"
    disp = (k * rel).clamp(1.0 / FAR_LIMIT_M, 1.0 / NEAR_LIMIT_M)
    depth = 1.0 / disp
    vals = _over(depth, bg)
    lo, hi = _quantile(vals, 0.02), _quantile(vals, 0.98)
    kind = "receding wall" if abs(a) * W > abs(b) * H else "receding plane"
    summary = f"background: {kind} {lo:.1f}–{_metres(hi)} from the texture's scale ({anchored})"
    meta: dict[str, Any] = {
        "background": kind,
        "depth_range_m": [round(lo, 2), round(hi, 2)],
        "from": "texture scale (local frequency ∝ distance^1.5 on a receding plane), plane fit",
        "anchor": anchored,
        "vanishing_line": _vanishing_line(a, b, c, H, W),
        "tiles": fit.tiles,
        "fit_r2": round(fit.r2, 3),
        "depth_ratio": round(fit.ratio, 2),
    }
    return _with_front(Layout(depth, True, summary, meta), in_front, standing, horizon)


def estimate_horizon(standing: list[Standing], H: int) -> tuple[float, str]:
    """The horizon's row (pixels from the top) of a level camera and where it came from: the eye line
    of the people (for two or more at different distances, the row their eye rows tend to as 1/distance
    goes to 0: y_eye = y_horizon + (h_camera − h_eyes)·f/Z), else the nearest person's eye row (the
    camera at her eye level), else the frame's middle (a level camera's principal point)."""
    eyes = [(p.distance_m, p.eye_y) for p in standing if p.eye_y is not None and p.distance_m > 0]
    if len(eyes) >= 2:
        inv = torch.tensor([1.0 / z for z, _ in eyes], dtype=torch.float64)
        ys = torch.tensor([y for _, y in eyes], dtype=torch.float64)
        if float(inv.max() / inv.min()) >= 1.3:
            A = torch.stack([torch.ones_like(inv), inv], 1)
            y_h = float(torch.linalg.lstsq(A, ys[:, None]).solution[0, 0])
            if 0 <= y_h < H:
                return y_h, f"eye line of {len(eyes)} people at different distances"
    if eyes:
        z, y = min(eyes)
        return float(y), f"eye line of the person at {z:.2f} m (camera at her eye level)"
    return H / 2.0, "middle of the frame (a level camera)"


@dataclass
class GroundFit:
    """The ground's evidence: ``contact`` ``[W]`` the row (full-resolution pixels) per column where
    what stands on the ground meets it (the ground below), the tiles it rests on and their agreement."""

    contact: torch.Tensor
    tiles: int
    agreement: float


def fit_ground(tiles: Optional[Tiles], horizon: float, H: int, W: int) -> Optional[GroundFit]:
    """A ground plane below ``horizon`` (row, px) when the texture shows one, else None. Ground tiles are
    background tiles below the horizon whose texture is squeezed vertically (ν_y > :data:`SQUEEZED` ν_x,
    the foreshortening of a receding floor); the evidence is that their level-axis frequency ν_x grows
    with the distance the ground model gives them, Z ∝ 1/(y − y_horizon) (correlation of the logarithms
    at least :data:`MIN_GROUND_AGREEMENT`, over a depth ratio of at least :data:`MIN_RATIO`)."""
    if tiles is None:
        return None
    margin = TILE / (2 * tiles.s)
    below = tiles.cy > horizon + margin
    ground = tiles.ok & below & (tiles.nu_y > SQUEEZED * tiles.nu_x)
    n = int(ground.sum())
    if n < MIN_GROUND_TILES:
        return None
    z = 1.0 / (tiles.cy[ground] - horizon).double()
    lz, lnu = z.log(), tiles.nu_x[ground].double().log()
    if float(z.max() / z.min()) < MIN_RATIO:
        return None
    lz, lnu = lz - lz.mean(), lnu - lnu.mean()
    agreement = float((lz * lnu).sum() / (lz.norm() * lnu.norm()).clamp_min(1e-12))
    if agreement < MIN_GROUND_AGREEMENT:
        return None
    # per tile column, the topmost ground tile's top edge: where what stands on the ground meets it; the
    # ground goes on up through tiles whose texture is too fine to resolve (frequency near the pixel's)
    # or too faint to measure, up to the first tile with a texture of its own (a wall, a façade)
    th, tw = ground.shape
    unresolved = tiles.clear & below & (~tiles.ok | (torch.maximum(tiles.nu_x, tiles.nu_y) > UNRESOLVED))
    top = torch.full((tw,), float("inf"), device=ground.device)
    for j in range(tw):
        rows = torch.nonzero(ground[:, j]).flatten()
        if rows.numel() == 0:
            continue
        i = int(rows[0])
        while i > 0 and bool(unresolved[i - 1, j]):
            i -= 1
        if i > 0 and bool(below[i - 1, j]) and not bool(tiles.clear[i - 1, j]):
            continue  # a person hides where the ground ends in this column: from the neighbours
        top[j] = tiles.cy[i, j] - margin
    have = torch.isfinite(top)
    if not bool(have.any()):  # people hide it everywhere: the topmost ground seen
        top = torch.where(ground, tiles.cy - margin, torch.full_like(tiles.cy, float("inf"))).min(0).values
        have = torch.isfinite(top)
    cols = tiles.cx[0]
    if int(have.sum()) == 0:
        return None
    top = _fill_missing(top, have)
    top = _running_median(top, 3).clamp_min(horizon + 1.0)
    xs = torch.arange(W, device=top.device, dtype=torch.float32) + 0.5
    contact = _interp(xs, cols.float(), top.float())
    return GroundFit(contact, n, agreement)


def _ground_layout(
    ground: GroundFit,
    horizon: float,
    horizon_from: str,
    standing: list[Standing],
    background_distance_m: float,
    people_mask: torch.Tensor,
) -> Layout:
    """Depth of the ground (Z = 1/(k·(y − y_horizon))) and of what stands on it (the depth of its
    contact row, per column), k from the people's ground contacts, else the ground at the frame's bottom
    just behind the nearest person (:data:`BEHIND`), else the contact line at ``background_distance_m``."""
    H, W = people_mask.shape
    device = people_mask.device
    ks = [
        1.0 / (p.distance_m * (p.contact_xy[1] - horizon))
        for p in standing
        if p.contact_xy is not None and p.contact_xy[1] > horizon + 2
    ]
    if ks:
        k = float(torch.tensor(ks).median())
        n = len(ks)
        anchored = f"ground contact of {n} {'person' if n == 1 else 'people'}"
    elif standing:
        near = BEHIND * min(p.distance_m for p in standing)
        k = 1.0 / (near * (H - horizon))
        anchored = f"the ground at the frame's bottom {near:.2f} m, just behind the nearest person (no feet seen)"
    else:
        k = 1.0 / (background_distance_m * max(float(ground.contact.median()) - horizon, 1.0))
        anchored = f"what stands on the ground at {background_distance_m:g} m (assumed)"
    yy = torch.arange(H, device=device, dtype=torch.float32).view(-1, 1) + 0.5
    contact = ground.contact.to(device).view(1, -1)
    row = torch.maximum(yy, contact)  # above its contact line, a surface takes the contact's depth
    disp = (k * (row - horizon)).clamp(1.0 / FAR_LIMIT_M, 1.0 / NEAR_LIMIT_M)
    depth = 1.0 / disp
    vals = _over(depth, ~people_mask)
    lo, hi = _quantile(vals, 0.02), _quantile(vals, 0.98)
    stands = 1.0 / (k * (float(ground.contact.median()) - horizon))
    summary = (
        f"background: ground plane {lo:.1f}–{_metres(hi)} below the horizon ({horizon_from}), "
        f"what stands on it at its contact (about {_metres(stands)}); scale: {anchored}"
    )
    meta: dict[str, Any] = {
        "background": "ground plane + what stands on it",
        "depth_range_m": [round(lo, 2), round(hi, 2)],
        "horizon_row": round(horizon / H, 3),
        "horizon_from": horizon_from,
        "ground_from": "texture squeezed vertically below the horizon, its scale growing as 1/(y − horizon)",
        "standing_from": "vertical surfaces take the depth of the row where they meet the ground",
        "anchor": anchored,
        "camera_height_per_focal_px": round(1.0 / k, 3),
        "tiles": ground.tiles,
        "agreement": round(ground.agreement, 3),
    }
    return Layout(depth, True, summary, meta)


def ground_from_contacts(standing: list[Standing], horizon: float) -> Optional[tuple[float, str]]:
    """The ground plane the people stand on, 1/Z = k·(y − ``horizon``) (rows in pixels, Z in metres): k
    (the median over the people whose ground contact is below the horizon: 1/(Z_person·(y_contact −
    y_horizon))) and what fixed it; None without such a contact."""
    ks = [
        1.0 / (p.distance_m * (p.contact_xy[1] - horizon))
        for p in standing
        if p.contact_xy is not None and p.contact_xy[1] > horizon + 2 and p.distance_m > 0
    ]
    if not ks:
        return None
    n = len(ks)
    return float(torch.tensor(ks).median()), f"ground contact of {n} {'person' if n == 1 else 'people'}"


def contacts_from_bodies(standing: list[Standing], bodies: list[Optional[torch.Tensor]], H: int) -> list[Standing]:
    """``standing`` with each person's ground contact also looked for in her own body (``bodies``: ``[H,W]``
    bool per person, her pose's body segmentation, None without one): the middle of the body's lowest
    row when it ends above the frame's bottom (by more than :data:`CONTACT_MARGIN` of the height). Of
    that and the contact of her outline (the person matte's), the higher: either segmentation can run on
    into a floor of the people's colours, and she ends where she stands or where something hides her."""
    out = []
    for st, body in zip(standing, bodies):
        contact = st.contact_xy
        if body is not None and bool(body.any()):
            rows = torch.nonzero(body.any(1)).flatten()
            y = int(rows[-1])
            if y < H * (1 - CONTACT_MARGIN) and (contact is None or y + 1.0 < contact[1]):
                cols = torch.nonzero(body[max(0, y - 2) : y + 1].any(0)).flatten().float()
                contact = (float(cols.mean()) + 0.5, y + 1.0)
        out.append(Standing(st.distance_m, contact, st.eye_y))
    return out


def floor_in_front(
    solid: torch.Tensor,
    bodies: list[Optional[torch.Tensor]],
    others: torch.Tensor,
    people_depth: torch.Tensor,
    standing: list[Standing],
) -> torch.Tensor:
    """``[H,W]`` bool: the pixels of the people's solid matte (``solid [H,W]`` bool) that are no one's
    body but the floor or a table in front of them: outside every body (``bodies``, ``[H,W]`` bool per
    person with a pose, grown by 0.5 % of the long side; ``others [H,W]`` bool, the pixels of the people
    without a pose), below the horizon, where the ground the people stand on
    (:func:`ground_from_contacts`) is nearer than :data:`IN_FRONT` × the depth the person there was given
    (``people_depth [H,W]`` metres): what a person holds low stays hers. Empty without a ground contact."""
    H, W = solid.shape
    none = torch.zeros_like(solid)
    horizon, _ = estimate_horizon(standing, H)
    ground = ground_from_contacts(standing, horizon)
    if ground is None or not bool(solid.any()):
        return none
    k = ground[0]
    body = others.clone()
    for b in bodies:
        if b is not None:
            body |= b
    r = max(1, round(0.005 * max(H, W)))
    body = dilate(body[None], r)[0]
    yy = torch.arange(H, device=solid.device, dtype=torch.float32).view(-1, 1) + 0.5
    below = yy > horizon + 2
    z_ground = 1.0 / (k * (yy - horizon)).clamp_min(1e-9)
    return solid & ~body & below & (z_ground < IN_FRONT * people_depth)


def place_on_ground(
    solid: torch.Tensor,
    labels: torch.Tensor,
    bodies: list[Optional[torch.Tensor]],
    people_depth: torch.Tensor,
    standing: list[Standing],
) -> tuple[list[Standing], Optional[torch.Tensor]]:
    """The people on the ground they stand on: ``standing`` (one per person of ``labels [H,W]``, indices)
    with their contacts from their bodies (:func:`contacts_from_bodies`; ``bodies`` ``[H,W]`` bool per
    person, None without a pose), and the floor or table in front of them that the solid matte (``solid
    [H,W]`` bool) holds (:func:`floor_in_front`, ``people_depth [H,W]`` metres; None when there is
    none), for :func:`background_layout`."""
    if not (ENABLED and PEOPLE_ON_GROUND) or not standing:
        return standing, None
    H = solid.shape[0]
    bodies = list(bodies[: len(standing)]) + [None] * max(0, len(standing) - len(bodies))
    standing = contacts_from_bodies(standing, bodies, H)
    others = torch.zeros_like(solid)
    for k, b in enumerate(bodies):
        if b is None:
            others |= labels == k
    front = floor_in_front(solid, bodies, others & solid, people_depth, standing)
    return standing, front if bool(front.any()) else None


def find_junction(image: torch.Tensor, free: torch.Tensor, top: float, lowest: float) -> Optional[tuple[float, float]]:
    """Where a floor meets a wall: the row (full-resolution pixels, between ``top`` and ``lowest``) at
    which the median colour of the rows' ``free`` (``[H,W]`` bool, clear of people) pixels of ``image
    [H,W,3]`` steps, fitted as two constant parts (least absolute deviations from each part's median)
    from ``top`` down to the frame's bottom; with the step's size over the rows' spread around the two
    parts (their median deviation, so a few rows of a lamp or a held object do not count; at least
    :data:`JUNCTION_STEP`, and a step of :data:`JUNCTION_MIN_STEP`), else None."""
    H, W, _ = image.shape
    s = min(1.0, WORK_SIDE / max(H, W))
    h, w = max(8, round(H * s)), max(8, round(W * s))
    small = F.interpolate(image[..., :3].permute(2, 0, 1)[None].float(), size=(h, w), mode="area")[0]
    clear = F.interpolate(free.float()[None, None], size=(h, w), mode="area")[0, 0] > 0.999
    r0 = max(0, int(math.ceil(top * s)))
    if h - r0 < 8:
        return None
    vals = torch.where(clear[None, r0:], small[:, r0:], torch.full_like(small[:, r0:], float("nan")))
    med = vals.nanmedian(2).values.T  # [rows,3]
    have = clear[r0:].float().mean(1) >= MIN_FREE_ROW
    if int(have.sum()) < 8:
        return None
    rows = (torch.arange(r0, h, device=image.device).float() + 0.5)[have]
    m = med[have].double()
    n = m.shape[0]
    best: Optional[tuple[float, int, float]] = None
    for i in range(3, n - 2):  # the upper part rows[:i], the lower rows[i:]; least absolute deviations
        if float(rows[i]) / s > lowest:
            break
        up, lo = m[:i].median(0).values, m[i:].median(0).values
        cost = float((m[:i] - up).abs().sum() + (m[i:] - lo).abs().sum())
        if best is None or cost < best[0]:
            best = (cost, i, float((up - lo).norm()))
    if best is None:
        return None
    cost, i, step = best
    up, lo = m[:i].median(0).values, m[i:].median(0).values
    dev = torch.cat([(m[:i] - up).norm(dim=1), (m[i:] - lo).norm(dim=1)])
    spread = 1.4826 * float(dev.median())
    ratio = step / max(spread, 1e-6)
    if ratio < JUNCTION_STEP or step < JUNCTION_MIN_STEP:
        return None
    return (float(rows[i - 1] + rows[i]) / 2) / s, ratio


def _contact_layout(
    image: torch.Tensor,
    people_mask: torch.Tensor,
    standing: list[Standing],
    horizon: float,
    horizon_from: str,
    background_distance_m: float,
    in_front: Optional[torch.Tensor],
    to_bottom: bool = False,
) -> Optional[Layout]:
    """The ground the people stand on (:func:`ground_from_contacts`) where the texture shows no ground:
    below the row where the photo's colour steps between the people's contacts and the horizon (a floor
    meeting a wall, :func:`find_junction`), the ground's depth; above it the wall at the ground's depth
    there when that is behind the farthest person, else at ``background_distance_m``. Without a junction
    only ``in_front`` (the floor or a table in front of the people) takes the ground's depth; None when
    that leaves the one plane. The junction is looked for down to the people's lowest contact, or with
    ``to_bottom`` down to the frame's bottom (a pavement in front of a group: the wall stays assumed)."""
    H, W, _ = image.shape
    ground = ground_from_contacts(standing, horizon) if PEOPLE_ON_GROUND else None
    if ground is None:
        return None
    k, anchored = ground
    lowest = max(p.contact_xy[1] for p in standing if p.contact_xy is not None)
    free = ~people_mask
    if in_front is not None:
        free = free | in_front
    junction = find_junction(image, free, horizon + 2, H - 3.0 if to_bottom else lowest + 0.02 * H)
    yy = torch.arange(H, device=image.device, dtype=torch.float32).view(-1, 1) + 0.5
    z_ground = 1.0 / (k * (yy - horizon)).clamp_min(1.0 / (NEAR_LIMIT_M * 1e3))
    z_ground = z_ground.clamp(NEAR_LIMIT_M, FAR_LIMIT_M).expand(H, W)
    farthest = max(p.distance_m for p in standing)
    flat = torch.full((H, W), float(background_distance_m), device=image.device)
    meta: dict[str, Any] = {
        "horizon_row": round(horizon / H, 3),
        "horizon_from": horizon_from,
        "anchor": anchored,
        "camera_height_per_focal_px": round(1.0 / k, 3),
    }
    if junction is None:
        if in_front is None:
            return None
        depth = torch.where(in_front, torch.minimum(z_ground, flat), flat)
        near = _quantile(_over(depth, in_front), 0.02)
        summary = (
            f"background: one plane {background_distance_m:g} m (assumed: no wall's foot seen); the floor or "
            f"table in front of the people on the ground they stand on (from {_metres(near)}; {anchored})"
        )
        meta.update(background=f"one plane at {background_distance_m:g} m (assumed)", in_front="ground plane")
        return Layout(depth, True, summary, meta)
    y_j, ratio = junction
    z_j = 1.0 / (k * max(y_j - horizon, 1e-3))
    wall_m, wall_from = (
        (z_j, "at the ground's depth where it meets the floor")
        if z_j > farthest * 1.05
        else (float(background_distance_m), "assumed (the floor's edge is not behind the people)")
    )
    wall = torch.full((H, W), wall_m, device=image.device)
    depth = torch.where(yy >= y_j, torch.minimum(z_ground, wall), wall)
    if in_front is not None:
        depth = torch.where(in_front, torch.minimum(z_ground, wall), depth)
    lo = _quantile(_over(depth, ~people_mask), 0.02)
    summary = (
        f"background: ground plane {lo:.1f}–{_metres(wall_m)} the people stand on, a wall at "
        f"{_metres(wall_m)} ({wall_from}); horizon: {horizon_from}; scale: {anchored}"
    )
    meta.update(
        background="ground plane + wall at its foot",
        depth_range_m=[round(lo, 2), round(wall_m, 2)],
        ground_from="the people's ground contacts",
        junction_row=round(y_j / H, 3),
        junction_step=round(ratio, 2),
        wall_from=wall_from,
    )
    return Layout(depth, True, summary, meta)


def _with_front(out: Layout, in_front: Optional[torch.Tensor], standing: list[Standing], horizon: float) -> Layout:
    """``out`` with ``in_front`` (``[H,W]`` bool: the floor or a table in front of the people) at the
    ground's depth the people's contacts give, where that is nearer."""
    if in_front is None:
        return out
    ground = ground_from_contacts(standing, horizon)
    if ground is None:
        return out
    H = out.depth.shape[0]
    yy = torch.arange(H, device=out.depth.device, dtype=torch.float32).view(-1, 1) + 0.5
    z_ground = (1.0 / (ground[0] * (yy - horizon)).clamp_min(1e-6)).clamp(NEAR_LIMIT_M, FAR_LIMIT_M)
    out.depth = torch.where(in_front, torch.minimum(out.depth, z_ground.expand_as(out.depth)), out.depth)
    out.meta["in_front"] = "ground plane from the people's ground contacts"
    return out


def _fill_missing(v: torch.Tensor, have: torch.Tensor) -> torch.Tensor:
    """``v [n]`` with the entries where ``have`` is False taken from the nearest entry that has one."""
    idx = torch.arange(v.numel(), device=v.device)
    good = idx[have]
    nearest = good[(idx[:, None] - good[None, :]).abs().argmin(1)]
    return v[nearest]


def _running_median(v: torch.Tensor, k: int) -> torch.Tensor:
    pad = F.pad(v.view(1, 1, -1), (k // 2, k // 2), mode="replicate")[0, 0]
    return pad.unfold(0, k, 1).median(1).values


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``fp`` at ``xp`` (increasing) onto ``x``, constant outside."""
    i = torch.searchsorted(xp, x).clamp(1, xp.numel() - 1) if xp.numel() > 1 else torch.zeros_like(x).long()
    if xp.numel() == 1:
        return fp[0].expand_as(x).clone()
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    t = ((x - x0) / (x1 - x0).clamp_min(1e-9)).clamp(0, 1)
    return f0 + t * (f1 - f0)


@dataclass
class PlaneFit:
    plane: Optional[tuple[float, float, float]]
    why: str
    tiles: int = 0
    r2: float = 0.0
    ratio: float = 1.0


@dataclass
class Tiles:
    """The background's texture measured per tile (half-overlapping :data:`TILE`² tiles at the working
    size): ``ok`` ``[th,tw]`` bool (clear of people, textured), level-axis frequencies ``nu_x``,
    ``nu_y`` (rad/px: the gradient's energy over the contrast's, per axis), tile centres ``cx``, ``cy``
    in full-resolution pixels, the working scale ``s`` and the people at the working size."""

    ok: torch.Tensor
    clear: torch.Tensor
    nu_x: torch.Tensor
    nu_y: torch.Tensor
    cx: torch.Tensor
    cy: torch.Tensor
    s: float
    people: torch.Tensor


def measure_tiles(image: torch.Tensor, people_mask: torch.Tensor) -> Optional[Tiles]:
    """:class:`Tiles` of ``image [H,W,3]`` 0..1 outside ``people_mask [H,W]`` bool (None: too little
    background). Lamps and clipped highlights are capped at the background's 95th percentile."""
    H, W, _ = image.shape
    s = min(1.0, WORK_SIDE / max(H, W))
    h, w = max(8, round(H * s)), max(8, round(W * s))
    if min(h, w) < 2 * TILE:
        return None
    rgb = image[..., :3].permute(2, 0, 1)[None].float()
    if s < 1:  # brought down first: the grey level is linear in the colour, the area average too
        rgb = F.interpolate(rgb, size=(h, w), mode="area")
    luma = torch.tensor([0.299, 0.587, 0.114], device=image.device).view(1, 3, 1, 1)
    small = (rgb * luma).sum(1, keepdim=True)
    people = F.interpolate(people_mask.float()[None, None], size=(h, w), mode="area")
    people = F.max_pool2d(people, 7, stride=1, padding=3) > 0.01  # away from outlines
    bg_vals = small[~people]
    if bg_vals.numel() < TILE * TILE * MIN_TILES // 4:
        return None
    g = small.clamp(max=_quantile(bg_vals, 0.95))
    gx = F.pad(g[..., :, 1:] - g[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(g[..., 1:, :] - g[..., :-1, :], (0, 0, 0, 1))
    stride = TILE // 2

    def pool(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, TILE, stride=stride)[0, 0]

    mean = pool(g)
    var = (pool(g * g) - mean * mean).clamp_min(0)
    ex, ey = pool(gx * gx), pool(gy * gy)
    clear = pool((~people).float()) > 0.999
    ok = clear & (var.sqrt() > MIN_CONTRAST) & (ex > 0) & (ey > 0)
    th, tw = ok.shape
    cy = ((torch.arange(th, device=image.device).float() * stride + TILE / 2) / s).view(-1, 1).expand(th, tw)
    cx = ((torch.arange(tw, device=image.device).float() * stride + TILE / 2) / s).view(1, -1).expand(th, tw)
    nu_x = (ex / var.clamp_min(1e-8)).sqrt()
    nu_y = (ey / var.clamp_min(1e-8)).sqrt()
    return Tiles(ok, clear, nu_x, nu_y, cx, cy, s, people[0, 0])


def fit_receding_plane(tiles: Optional[Tiles], H: int, W: int) -> PlaneFit:
    """Relative inverse depth ``a·x + b·y + c`` (full-resolution pixels of an ``H×W`` image) of the
    background from the scale of its texture (:func:`measure_tiles`), or no plane and why not."""
    if tiles is None:
        return PlaneFit(None, "too little background")
    ok = tiles.ok
    n = int(ok.sum())
    if n < MIN_TILES:
        plain = int(tiles.clear.sum()) >= MIN_TILES
        return PlaneFit(None, f"{'plain' if plain else 'little'} background: no texture to measure", n)
    nu = (tiles.nu_x * tiles.nu_y).sqrt()  # geometric mean of the two axes' frequencies
    r = nu[ok].double().pow(-EXPONENT)
    cx, cy = tiles.cx[ok].double(), tiles.cy[ok].double()
    A = torch.stack([cx, cy, torch.ones_like(cx)], 1)
    wts = torch.ones_like(r)
    coef = torch.zeros(3, dtype=torch.float64)
    for _ in range(8):  # iteratively reweighted least squares (Tukey's biweight on the relative residual)
        sw = wts.sqrt()
        coef = torch.linalg.lstsq(A * sw[:, None], (r * sw)[:, None]).solution[:, 0]
        res = (r - A @ coef) / r.median()
        scale = 4.685 * max(float(res.abs().median()) * 1.4826, 1e-3)
        wts = (1 - (res / scale).clamp(-1, 1) ** 2) ** 2
    pred = A @ coef
    inl = wts > 0.1
    if int(inl.sum()) < MIN_TILES:
        return PlaneFit(None, "the texture's scale follows no plane", n)
    lr, lp = r[inl].log(), pred[inl].clamp_min(1e-9).log()
    r2 = 1 - float(((lr - lp) ** 2).sum() / ((lr - lr.mean()) ** 2).sum().clamp_min(1e-12))
    # the depth ratio the plane spans over the background (the whole background, not only the tiles)
    h, w = tiles.people.shape
    s = tiles.s
    gyy, gxx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    over = coef[0] * (gxx + 0.5) / s + coef[1] * (gyy + 0.5) / s + coef[2]
    over = over[~tiles.people.cpu()]
    p_near, p_far = _quantile(over, 0.95), _quantile(over, 0.05)
    ratio = p_near / p_far if p_far > 0 else math.inf
    plane = (float(coef[0]), float(coef[1]), float(coef[2]))
    if p_near <= 0:
        return PlaneFit(None, "the texture's scale fits no plane in front of the camera", n, r2)
    if r2 < MIN_R2 or ratio < MIN_RATIO:
        why = f"the texture's scale changes little across the frame (depth ratio {min(ratio, 99):.2f}, fit R² {r2:.2f})"
        return PlaneFit(None, why, n, r2, min(ratio, 99.0))
    return PlaneFit(plane, "", n, r2, min(ratio, 99.0))


def _vanishing_line(a: float, b: float, c: float, H: int, W: int) -> str:
    """Where the plane's inverse depth is zero, in words (rows/columns as shares of the frame)."""
    if abs(b) >= abs(a):
        y0, y1 = -c / b, -(c + a * W) / b
        return f"y = {y0 / H:.2f}–{y1 / H:.2f} of the height (left–right edge)"
    x0, x1 = -c / a, -(c + b * H) / a
    return f"x = {x0 / W:.2f}–{x1 / W:.2f} of the width (top–bottom edge)"


def _metres(v: float) -> str:
    return "∞" if v >= FAR_LIMIT_M * 0.99 else f"{v:.0f} m" if v >= 10 else f"{v:.1f} m"


def _over(v: torch.Tensor, where: torch.Tensor, most: int = 200_000) -> torch.Tensor:
    """The values of ``v [H,W]`` where ``where [H,W]`` (bool) is set, on a grid of every n-th row and
    column thin enough to keep at most about ``most`` pixels (all of ``v`` when ``where`` is empty)."""
    n = max(1, math.ceil(math.sqrt(v.numel() / most)))
    sv, sw = v[::n, ::n], where[::n, ::n]
    if not bool(sw.any()):
        sw = where if bool(where.any()) else torch.ones_like(where)
        sv = v
    return sv[sw]


def _quantile(x: torch.Tensor, q: float) -> float:
    """The ``q`` quantile of ``x`` (the nearest rank; thinned to about 200 000 values)."""
    x = x.reshape(-1)
    if x.numel() > 200_000:
        x = x[:: x.numel() // 200_000 + 1]
    k = min(x.numel(), max(1, round(q * (x.numel() - 1)) + 1))
    return float(x.float().kthvalue(k).values)
