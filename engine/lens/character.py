"""Lens character: what makes a defocused disc read as one lens and not another.

The ideal renderer spreads every point over the same aperture disc everywhere in the frame. A real lens
does not; :class:`LensCharacter` describes the departures, each from the lens's geometry:

- **optical vignetting (cat's eye)**: the light reaching a field point passes two stops, the aperture
  (radius ``a = f/2N``) and the barrel's opening (radius ``b``, a distance ``L`` in front of it). Seen from
  the pupil, the barrel's opening is a second circle, shifted with field position; the disc is their
  intersection (exact two-stop geometry, see :func:`barrel_circle`), so discs narrow radially toward the
  corners, and more at wide apertures;
- **swirl**: strong optical vignetting with a curved field, the blur growing toward the corners
  (radius ``r·(1 + c·ρ²)``, ρ = field radius / half diagonal);
- **longitudinal chromatic aberration (LoCA)**: red and blue focus a few per mille of the focal length
  (image side) away from green, so their circles of confusion differ: magenta fringes on one side of
  focus, green on the other. The shift is faded in over its own size around the focus plane, so the
  focus plane itself stays clean (see :func:`channel_radius`);
- **spherical aberration**: the light across the disc changes with the side of focus; an under-corrected
  lens (``spherical > 0``) gives bright rims behind focus and soft centres in front; optional onion rings;
- **anamorphic squeeze**: oval discs, height / width = ``squeeze`` at the same area (the horizontal
  blur is ``1/√squeeze`` and the vertical ``√squeeze`` of the spherical lens's);
- **grain**: blurred regions re-grained to the noise of the in-focus region (``grain``).

Kernels are ``[n,K,K]`` float tensors, each summing to 1 (energy conserved per disc), built in one batch
for all the field zones and colour channels of a depth layer. Offsets are image pixels (x right, y down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import torch

from .aperture import Aperture
from .optics import ThinLens

MIN_CATS_EYE = 0.25  # a field zone's disc is at least this share of the smaller stop's diameter wide
ZONES_LONG_SIDE = 6  # field zones across the long side of the frame (cat's eye, swirl)
FIELD_MIN_RADIUS_PX = 2.0  # layers with smaller discs (full-resolution px) use the centre kernel everywhere
PLANE_KERNEL = (0, 1, 0, 1, 1)  # of the two kernels (red & blue, green), each plane's (R, G, B, coverage, occluding)


@dataclass(frozen=True)
class LensCharacter:
    """The lens's departures from the ideal thin lens. Defaults: none (an ideal lens)."""

    squeeze: float = 1.0  # anamorphic: disc height / width (1 = spherical lens)
    spherical: float = 0.0  # -1..1: > 0 under-corrected (bright rim behind focus, soft centre in front)
    onion_rings: float = 0.0  # 0..1: depth of concentric ripples across the disc
    loca_permille: float = 0.0  # red and blue focus shift from green, image side, ‰ of the focal length
    # (> 0: red and blue focus farther away, so magenta fringes in front of focus and green behind)
    barrel_radius: float = 0.0  # barrel opening radius / the pupil radius at ``max_aperture`` (0 = no barrel)
    barrel_distance: float = 0.0  # the barrel opening's distance in front of the aperture, in focal lengths
    max_aperture: float = 1.4  # the f-number at which ``barrel_radius`` is stated (the lens wide open)
    field_curvature: float = 0.0  # swirl: relative blur growth at the frame corner
    grain: bool = True  # re-grain blurred regions to the in-focus noise

    def __post_init__(self) -> None:
        if not 1.0 <= self.squeeze <= 3.0:
            raise ValueError(f"squeeze must be within 1..3, got {self.squeeze}")
        if not -1.0 <= self.spherical <= 1.0:
            raise ValueError(f"spherical must be within -1..1, got {self.spherical}")
        if not 0.0 <= self.onion_rings <= 1.0:
            raise ValueError(f"onion_rings must be within 0..1, got {self.onion_rings}")
        if self.barrel_radius and self.barrel_radius < 1.0:
            raise ValueError(f"barrel_radius must be 0 or at least 1 (pupil radii), got {self.barrel_radius}")
        if self.barrel_distance < 0 or self.field_curvature < 0 or self.max_aperture <= 0:
            raise ValueError("barrel_distance and field_curvature must be ≥ 0, max_aperture > 0")

    @property
    def field_dependent(self) -> bool:
        """Whether the disc changes across the frame (cat's eye or swirl)."""
        return (self.barrel_radius > 0 and self.barrel_distance > 0) or self.field_curvature > 0


@dataclass(frozen=True)
class Frame:
    """Where the rendered pixels sit in the whole frame: ``full_h × full_w`` px with the rendered rows starting
    at ``y0`` (a band), ``px_per_mm`` on the sensor."""

    full_h: int
    full_w: int
    px_per_mm: float
    y0: int = 0

    def zone_grid(self) -> tuple[int, int]:
        """(rows, columns) of field zones: about square, ``ZONES_LONG_SIDE`` across the long side."""
        long_side, short = max(self.full_h, self.full_w), min(self.full_h, self.full_w)
        n_short = max(2, round(ZONES_LONG_SIDE * short / long_side))
        return (n_short, ZONES_LONG_SIDE) if self.full_w >= self.full_h else (ZONES_LONG_SIDE, n_short)

    def zone_edges(self, n: int, extent: int) -> list[int]:
        return [round(i * extent / n) for i in range(n + 1)]

    def zone_centres_px(self) -> list[tuple[int, int, float, float]]:
        """Per zone (row, column, dx, dy): the zone centre's offset from the frame centre in px (x right, y down)."""
        gy, gx = self.zone_grid()
        ye, xe = self.zone_edges(gy, self.full_h), self.zone_edges(gx, self.full_w)
        out = []
        for j in range(gy):
            for i in range(gx):
                cy = (ye[j] + ye[j + 1]) / 2 - self.full_h / 2
                cx = (xe[i] + xe[i + 1]) / 2 - self.full_w / 2
                out.append((j, i, cx, cy))
        return out


def barrel_circle(
    character: LensCharacter, lens: ThinLens, field_mm: tuple[float, float], depth_mm: float
) -> Optional[tuple[float, float, float]]:
    """The barrel's opening seen through the pupil, in pupil radii: (cx, cy, radius) on the pupil plane for
    the light from a point at ``depth_mm`` imaged at ``field_mm`` (sensor mm from the centre, x right, y down).

    Two-stop geometry: a ray from the object point P (distance Z) to the pupil point q crosses the barrel's
    plane (a distance L in front) at ``q + (P − q)·L/Z``; it passes when that lies within b. So q lies in the
    circle of radius ``b·Z/(Z − L)`` centred at ``−P·L/(Z − L)``, and with P = −x·Z/v (x the chief ray's image
    point, v the sensor distance) that centre is ``x·Z·L/(v·(Z − L))``. None without a barrel stop.
    """
    if not (character.barrel_radius > 0 and character.barrel_distance > 0):
        return None
    f = lens.focal_length_mm
    a = f / (2 * lens.f_number)
    b = character.barrel_radius * f / (2 * character.max_aperture)
    L = character.barrel_distance * f
    Z = max(depth_mm, 2 * L)  # nearer than the barrel's opening is outside the model: held at 2L
    v = lens.image_distance_mm
    k = Z * L / (v * (Z - L)) / a
    return field_mm[0] * k, field_mm[1] * k, b * Z / ((Z - L) * a)


def floored_barrel(barrel: tuple[float, float, float]) -> tuple[float, float, float]:
    """The barrel circle ``(cx, cy, radius)`` (pupil radii) moved toward the pupil's centre, where needed, so
    that the cat's eye (aperture ∩ barrel) stays at least :data:`MIN_CATS_EYE` of the smaller stop's
    diameter wide. A profile's barrel is stated for its design focal length; far from it (a 10 mm lens with
    an 85 mm design's barrel, a corner zone) the two-stop model would vignette the zone's disc to nothing."""
    cx, cy, rb = barrel
    d = math.hypot(cx, cy)
    reach = 1.0 + rb - 2.0 * MIN_CATS_EYE * min(1.0, rb)
    if d <= reach:
        return barrel
    return cx * reach / d, cy * reach / d, rb


def channel_radius(r: float, shift: float) -> float:
    """Signed CoC radius (px) of a channel whose focus is ``shift`` px of CoC radius away (``r − shift`` away
    from focus), faded in over ``|shift|`` around the focus plane so that r = 0 stays sharp in every channel."""
    if shift == 0.0:
        return r
    t = min(1.0, abs(r) / abs(shift))
    return r - shift * t


def loca_shift_px(character: LensCharacter, lens: ThinLens, px_per_mm: float) -> float:
    """Red and blue's CoC radius shift (px): a focus ``Δv = loca‰·f`` behind the sensor gives a CoC of ``A·Δv/v``."""
    dv = character.loca_permille / 1000.0 * lens.focal_length_mm
    return 0.5 * lens.aperture_mm * dv / lens.image_distance_mm * px_per_mm


def depth_mm_at(lens: ThinLens, radius_px: float, px_per_mm: float) -> float:
    """Object distance (mm) whose signed CoC radius is ``radius_px``: CoC = K·(1/S − 1/Z), K = A·v·(px/mm)."""
    k = lens.aperture_mm * lens.image_distance_mm * px_per_mm
    inv = 1.0 / (lens.focus_distance_m * 1000.0) - 2.0 * radius_px / k
    return 1.0 / inv if inv > 1e-12 else 1e12


def shaped_kernels(
    aperture: Aperture,
    character: LensCharacter,
    rhos: list[float],
    side: int,
    edge: float,
    barrels: list[Optional[tuple[float, float, float]]],
    dtype=torch.float32,
) -> torch.Tensor:
    """``[n,K,K]`` kernels, one per entry of ``rhos`` (disc radius, area-equivalent, in this scale's px) and
    ``barrels`` (the barrel circle on the pupil in pupil radii, or None; floored by :func:`floored_barrel`),
    each summing to 1; a kernel with nothing drawn (under a pixel) is the identity.

    ``side``: +1 behind the focus plane, −1 in front (the image of the pupil is inverted behind focus, and
    the spherical aberration's light distribution flips). ``edge``: the edge ramp (px) as in
    :meth:`Aperture.kernel`. A radius below 0.5 px gives the identity (centred in the common size).
    """
    barrels = [None if c is None else floored_barrel(c) for c in barrels]
    sq = math.sqrt(character.squeeze)
    reach = max(rhos) * (math.sqrt(math.pi / aperture._unit_area()) if aperture.blades else 1.0) * sq
    half = int(math.ceil(reach + 1.0 + edge / 2))
    n, size = len(rhos), 2 * half + 1
    out = torch.zeros(n, size, size, dtype=torch.float64)
    big = [i for i, rho in enumerate(rhos) if rho >= 0.5]
    for i, rho in enumerate(rhos):
        if rho < 0.5:
            out[i, half, half] = 1.0
    if big:
        ss = 2 if max(rhos) < 8 else 1
        offs = (torch.arange(ss, dtype=torch.float64) + 0.5) / ss - 0.5
        grid = (torch.arange(-half, half + 1, dtype=torch.float64)[:, None] + offs[None, :]).reshape(-1)
        yy, xx = torch.meshgrid(grid, grid, indexing="ij")
        px, py = xx * sq, yy / sq  # the unsqueezed disc (pupil coordinates × radius)
        rr = torch.sqrt(px * px + py * py)
        boundary = aperture.boundary_radius(torch.atan2(-py, px))
        rho_t = torch.tensor([rhos[i] for i in big], dtype=torch.float64)[:, None, None]
        ramp = max(edge, 0.5)
        inside = ((boundary * rho_t - rr) / ramp + 0.5).clamp_(0.0, 1.0)
        if any(barrels[i] is not None for i in big):
            # the pupil point that lands at offset u is q = −side·u/r (inverted behind focus)
            cx = torch.tensor([(barrels[i] or (0.0, 0.0, 1e6))[0] for i in big], dtype=torch.float64)[:, None, None]
            cy = torch.tensor([(barrels[i] or (0.0, 0.0, 1e6))[1] for i in big], dtype=torch.float64)[:, None, None]
            rb = torch.tensor([(barrels[i] or (0.0, 0.0, 1e6))[2] for i in big], dtype=torch.float64)[:, None, None]
            qx, qy = -side * px / rho_t, -side * py / rho_t
            dist = (rb - torch.sqrt((qx - cx) ** 2 + (qy - cy) ** 2)) * rho_t
            inside.mul_((dist / ramp + 0.5).clamp_(0.0, 1.0))
        if character.spherical or character.onion_rings:
            rho2 = (rr / (boundary * rho_t)).clamp_(max=1.0) ** 2
            w = 1.0 + character.spherical * side * (2.0 * rho2 - 1.0)
            if character.onion_rings:
                w = w * (1.0 + 0.5 * character.onion_rings * torch.cos(2 * math.pi * 5.0 * rho2.sqrt()))
            inside.mul_(w)
        k = inside.view(len(big), size, ss, size, ss).mean(dim=(2, 4))
        out[big] = k
    sums = out.sum(dim=(1, 2))
    for i in torch.nonzero(~(sums > 1e-12)).flatten().tolist():  # nothing drawn (under a pixel): the identity
        out[i].zero_()
        out[i, half, half] = 1.0
    out /= out.sum(dim=(1, 2), keepdim=True)
    return out.to(dtype)


@dataclass
class LayerKernels:
    """The kernels of one depth layer: ``zones`` (``[n_zones, P, K, K]``, P = 5 planes or 1 when every plane
    shares one kernel) on a ``grid`` (rows, columns) of field zones over the frame; one zone when the disc
    is the same everywhere."""

    kernels: torch.Tensor
    grid: tuple[int, int]

    @property
    def size(self) -> int:
        return int(self.kernels.shape[-1])

    def to(self, device: torch.device) -> LayerKernels:
        return LayerKernels(self.kernels.to(device), self.grid)


class CharacterModel:
    """A :class:`LensCharacter` for one image through one lens: builds each layer's kernels."""

    def __init__(self, character: LensCharacter, aperture: Aperture, lens: ThinLens, frame: Frame):
        self.character, self.aperture, self.lens, self.frame = character, aperture, lens, frame
        self.loca = loca_shift_px(character, lens, frame.px_per_mm)

    def for_band(self, y0: int) -> CharacterModel:
        return CharacterModel(self.character, self.aperture, self.lens, replace(self.frame, y0=y0))

    def layer_kernels(self, rk: float, s: int, edge: float, dtype=torch.float32) -> LayerKernels:
        """Kernels of the layer of signed radius ``rk`` (full-resolution px) blurred at scale ``s``."""
        ch = self.character
        side = 1 if rk >= 0 else -1
        radii = [rk] if self.loca == 0 else [channel_radius(rk, self.loca), rk]
        zoned = ch.field_dependent and abs(rk) >= FIELD_MIN_RADIUS_PX
        if zoned:
            centres = self.frame.zone_centres_px()
            grid = self.frame.zone_grid()
        else:
            centres, grid = [(0, 0, 0.0, 0.0)], (1, 1)
        half_diag = 0.5 * math.hypot(self.frame.full_h, self.frame.full_w)
        rhos, barrels = [], []
        for _j, _i, dx, dy in centres:
            rho_f2 = (dx * dx + dy * dy) / (half_diag * half_diag)
            grow = 1.0 + ch.field_curvature * rho_f2 if zoned else 1.0
            for r in radii:
                rhos.append(abs(r) * grow / s)
                if zoned:
                    depth = depth_mm_at(self.lens, r, self.frame.px_per_mm)
                    field = (dx / self.frame.px_per_mm, dy / self.frame.px_per_mm)
                    barrels.append(barrel_circle(ch, self.lens, field, depth))
                else:
                    barrels.append(None)
        k = shaped_kernels(self.aperture, ch, rhos, side, edge, barrels, dtype)
        n_zones = len(centres)
        k = k.view(n_zones, len(radii), k.shape[-2], k.shape[-1])
        if len(radii) == 2:  # planes R, G, B, coverage, occluding: red and blue share the shifted kernel
            k = k[:, list(PLANE_KERNEL)]
        return LayerKernels(k.contiguous(), grid)

    def zone_edges(self) -> tuple[list[int], list[int]]:
        """Zone row and column edges in the rendered pixels' coordinates (rows shifted by the band's start)."""
        gy, gx = self.frame.zone_grid()
        ye = [y - self.frame.y0 for y in self.frame.zone_edges(gy, self.frame.full_h)]
        return ye, self.frame.zone_edges(gx, self.frame.full_w)


def disc_mask(
    character: LensCharacter,
    aperture: Aperture,
    lens: ThinLens,
    field: tuple[float, float],
    radius_px: float = 24.0,
    behind: bool = True,
    frame: tuple[int, int] = (2000, 3000),
) -> torch.Tensor:
    """``[K,K]`` float 0..1 (peak 1): the disc a background (``behind``) or foreground point draws at ``field``
    (x, y: −1..1 from the frame centre to its edges) of a ``frame`` (height, width) px image, at a disc radius
    of ``radius_px``: for drawing a lens's bokeh (the lens panel draws it at the centre and at a corner)."""
    H, W = frame
    ppm = lens.pixels_per_mm(H, W)
    r = radius_px if behind else -radius_px
    dx, dy = field[0] * W / 2, field[1] * H / 2
    half_diag = 0.5 * math.hypot(H, W)
    grow = 1.0 + character.field_curvature * (dx * dx + dy * dy) / half_diag**2
    barrel = barrel_circle(character, lens, (dx / ppm, dy / ppm), depth_mm_at(lens, r, ppm))
    k = shaped_kernels(aperture, character, [radius_px * grow], 1 if behind else -1, 1.0, [barrel])[0]
    return k / k.max().clamp_min(1e-12)
