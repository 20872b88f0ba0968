"""Every person in a portrait: her face, her distance, her part of the person matte.

The selfie segmentation marks all people as one class; its matte is shared out between the faces
found. Each person has a silhouette prior: her head around her face, her body below it, about three
face widths wide. A pixel inside several silhouettes goes to the nearest of those people (she is in
front); a pixel inside none to the person whose face it lies under (the smallest horizontal distance
in face widths, so a larger face claims more, and little above a head). Each person then takes her
own depth over her part. A piece of the matte in nobody's silhouette and above the chins (a blob
beside or above the heads) is left out. A face is in the matte whole or not at all: a face the segmentation
covers in part is filled in (the face and a hair margin), one it hardly covers is cut out.

Coordinates are image pixels (continuous, pixel ``i`` covers ``[i, i+1)``); faces are filled in or
cut out on the segmentation's own grid ``[gh,gw]`` (the frame stretched onto it), before it is
refined to the image; labels are found per pixel at the image's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..faces.distance import distance_from_eyes, distance_from_face_width
from ..faces.landmarks import FaceLandmarks

PERSON = 0.5  # probability above which a grid cell is person
WHOLE = 0.95  # a face the segmentation covers this much of is left as it is
FILL_FROM = 0.3  # one it covers at least this much of is filled in, less: cut out
ABOVE_HEAD = 1.0  # a person's head reaches this many face heights above her face's centre
CHIN = 0.7  # and this many below it, where her body begins
HEAD_HALF_WIDTH = 0.8  # face widths either side of the face's centre: her head
BODY_HALF_WIDTH = 1.6  # and her body (shoulders, arms at her sides)
ABOVE_COST = 2.0  # outside every silhouette: cost per face height above a head
GENEROUS_HEAD, GENEROUS_BODY = 1.4, 3.0  # half widths (face widths) of what a found face explains
UNEXPLAINED_OPENING = 2  # grid cells: what is left unexplained must be thicker than twice this
TURNED = 0.97  # eyes facing the camera less than this (about 14°): the read-out says the head is turned
HAIR_MARGIN = 0.15  # the filled-in head: the face's outline grown by this share of its size, more upwards
LABEL_BAND_PIXELS = 1 << 22  # labels are found in bands of rows of about this many pixel × face costs


@dataclass
class Person:
    """One face and what was measured from it. ``number`` counts from 1, nearest first."""

    face: FaceLandmarks
    distance_m: float
    distance_from: str
    number: int = 0
    in_matte: str = ""  # how the matte treats her (see :func:`split_matte`)
    centre: tuple[float, float] = field(init=False)
    size: tuple[float, float] = field(init=False)

    def __post_init__(self) -> None:
        lo, hi = self.face.mesh[:, :2].min(0).values, self.face.mesh[:, :2].max(0).values
        self.centre = (float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2)  # px, the face mesh's box
        self.size = (max(float(hi[0] - lo[0]), 1.0), max(float(hi[1] - lo[1]), 1.0))  # its width, height px

    @property
    def face_box(self) -> tuple[float, float, float, float]:
        """The face mesh's box ``(x0, y0, x1, y1)`` in pixels."""
        (cx, cy), (w, h) = self.centre, self.size
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def measure_distance(face: FaceLandmarks, focal_length_mm: float, pixels_per_mm: float) -> tuple[float, str]:
    """Camera-to-eyes distance (m) of one face and how it was measured: the iris, else the
    interpupillary distance (its spacing in the picture undone for a turned head, :attr:`eyes_facing`),
    else the face box's width."""
    iris = face.iris_diameters_px
    facing = face.eyes_facing
    est = distance_from_eyes(
        float(iris.mean()) if iris is not None else None,
        face.interpupillary_px / facing,
        focal_length_mm,
        pixels_per_mm,
    )
    if est is not None and facing < TURNED and not est[1].startswith("iris"):
        est = (est[0], f"{est[1]}, head turned {math.degrees(math.acos(facing)):.0f}°")
    if est is None:
        x0, _, x1, _ = face.detection.box
        est = distance_from_face_width(x1 - x0, focal_length_mm, pixels_per_mm)
    return est


def people_from_faces(faces: list[FaceLandmarks], focal_length_mm: float, pixels_per_mm: float) -> list[Person]:
    """A person per face, nearest first, numbered from 1."""
    people = [Person(f, *measure_distance(f, focal_length_mm, pixels_per_mm)) for f in faces]
    people.sort(key=lambda p: p.distance_m)
    for i, p in enumerate(people):
        p.number = i + 1
    return people


def eye_positions(face: FaceLandmarks, height: int, width: int) -> list[list[float]]:
    """The eye centres as ``[[x, y], …]`` in 0..1 of the image (0 = first pixel centre, 1 = last), the
    ``eye_xy`` convention of DEPTH metadata."""
    return [[(x - 0.5) / max(width - 1, 1), (y - 0.5) / max(height - 1, 1)] for x, y in face.eye_centres.tolist()]


def people_meta(people: list[Person], height: int, width: int) -> list[dict[str, Any]]:
    """The DEPTH metadata's ``people``: per person (nearest first) her number, distance in metres, how
    it was measured, eye positions (``eye_xy`` convention), face box (relative x, y, w, h) and how the
    matte treats her."""
    out = []
    for p in people:
        x0, y0, x1, y1 = p.face.detection.box
        row: dict[str, Any] = {
            "person": p.number,
            "distance_m": round(p.distance_m, 3),
            "distance_from": p.distance_from,
            "eye_xy": eye_positions(p.face, height, width),
            "face_box_rel": [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height],
        }
        if p.in_matte:
            row["matte"] = p.in_matte
        out.append(row)
    return out


def people_line(row: dict[str, Any]) -> str:
    """One person of DEPTH metadata's ``people`` as a read-out line: number, distance, how measured."""
    how = str(row.get("distance_from", ""))
    short = next((w for w in ("iris", "interpupillary", "face box", "given") if how.startswith(w)), how)
    if short == "interpupillary":
        short = "eyes' spacing"
    if "scaled" in how:
        short += ", scaled with person 1"
    matte = str(row.get("matte", ""))
    note = "" if not matte or matte == "in the matte" else f"; {matte}"
    return f"person {row.get('person')}: {float(row.get('distance_m', 0)):.2f} m ({short}{note})"


def _costs(
    people: list[Person],
    xs: torch.Tensor,
    ys: torch.Tensor,
    head_half_width: float | None = None,
    body_half_width: float | None = None,
) -> torch.Tensor:
    """``[len(ys),len(xs),K]``: how far each pixel lies from each person; the smallest wins.

    Inside a person's silhouette prior (her head: ±:data:`HEAD_HALF_WIDTH` face widths from the face's
    centre, from :data:`ABOVE_HEAD` face heights above it down to her chin; her body: ±
    :data:`BODY_HALF_WIDTH` below that) the cost is below 0 and ranks the people nearest first (the
    nearer one is in front). Outside all of them it is the horizontal distance from her face's centre in
    face widths, plus :data:`ABOVE_COST` per face height above her head.
    """
    dev = xs.device
    g = torch.tensor([(*p.centre, *p.size) for p in people], dtype=torch.float32, device=dev)  # [K,4]
    across = (xs[:, None] - g[:, 0]).abs() / g[:, 2]  # [W,K]
    dy = (ys[:, None] - g[:, 1]) / g[:, 3]  # [h,K] face heights below the face's centre
    above = ABOVE_COST * (-ABOVE_HEAD - dy).clamp_min(0)  # [h,K]
    head_band = (dy >= -ABOVE_HEAD) & (dy <= CHIN)
    # the half width of her silhouette on each row (0: none), compared with the distance across
    half = torch.where(
        head_band,
        head_half_width or HEAD_HALF_WIDTH,
        torch.where(dy > CHIN, body_half_width or BODY_HALF_WIDTH, -1.0),
    )  # [h,K]
    inside = across[None] <= half[:, None]  # [h,W,K]
    rank = torch.arange(len(people), dtype=torch.float32, device=dev) - len(people) - 1  # nearest lowest
    return torch.where(inside, rank, across[None] + above[:, None])


def unexplained(prob: torch.Tensor, faces: list[FaceLandmarks], height: int, width: int) -> torch.Tensor:
    """Bool ``[gh,gw]`` over the segmentation's grid: person cells (``prob`` above :data:`PERSON`) that
    lie outside a generous silhouette (long hair, arms, what is held) of every face in ``faces``, in
    pieces thick enough to hold a head: where a person not found yet may be. With no faces, every person
    cell."""
    gh, gw = prob.shape
    person = prob > PERSON
    if not faces:
        return person
    ys = (torch.arange(gh, dtype=torch.float32, device=prob.device) + 0.5) * height / gh
    xs = (torch.arange(gw, dtype=torch.float32, device=prob.device) + 0.5) * width / gw
    found = [Person(f, 0.0, "") for f in faces]
    inside = _costs(found, xs, ys, GENEROUS_HEAD, GENEROUS_BODY).amin(-1) < 0
    # a sliver (the edge of a held object) cannot hold a head: opened away
    left = (person & ~inside).float()[None, None]
    r = UNEXPLAINED_OPENING
    left = -F.max_pool2d(-left, 2 * r + 1, 1, r)
    return F.max_pool2d(left, 2 * r + 1, 1, r)[0, 0] > 0.5


def _outline_cells(person: Person, gh: int, gw: int, height: int, width: int, grow: float) -> np.ndarray:
    """Bool ``[gh,gw]``: the grid cells inside the face mesh's outline (convex hull), grown about the
    face's centre by ``grow`` of its size (twice that upwards, for the hair)."""
    import cv2

    m = person.face.mesh[:, :2].numpy().astype(np.float64)
    cx, cy = person.centre
    fw, fh = person.size
    pts = m.copy()
    pts[:, 0] = cx + (pts[:, 0] - cx) * (1 + grow)
    up = pts[:, 1] < cy
    pts[:, 1] = cy + (pts[:, 1] - cy) * np.where(up, 1 + 2 * grow, 1 + grow)
    # to grid coordinates: cell j spans x in [j W/gw, (j+1) W/gw)
    g = np.stack([pts[:, 0] * gw / width - 0.5, pts[:, 1] * gh / height - 0.5], 1)
    hull = cv2.convexHull(np.round(g * 16).astype(np.int32))
    cells = np.zeros((gh, gw), np.uint8)
    cv2.fillConvexPoly(cells, hull, (1,), lineType=cv2.LINE_8, shift=4)
    if not cells.any():  # a face smaller than a cell: the cell under its centre
        j = min(gw - 1, max(0, int(cx * gw / width)))
        i = min(gh - 1, max(0, int(cy * gh / height)))
        cells[i, j] = 1
    return cells.astype(bool)


@dataclass
class MatteSplit:
    """The edited segmentation ``[gh,gw]``, the people in the matte (those cut out are not) and notes."""

    prob: torch.Tensor
    people: list[Person]
    notes: list[str]


def split_matte(prob: torch.Tensor, people: list[Person], height: int, width: int) -> MatteSplit:
    """Fill in or cut out each face; leave out the matte's pieces that lie under nobody.

    prob: ``[gh,gw]`` 0..1, the segmentation over the frame stretched to its grid. Sets each
    person's ``in_matte``: a face the segmentation covers (nearly) whole stays, one covered at least
    :data:`FILL_FROM` is filled in (with a hair margin), one covered less is cut out of the matte and
    her person is not in it. A connected piece of the matte outside every person's silhouette
    (:func:`_costs`) that does not reach below the lowest chin (a blob above or beside the heads: a
    window, a picture frame) is left out; pieces lower down (arms, what is held, the table) stay.
    """
    import cv2

    gh, gw = prob.shape
    p = prob.detach().float().cpu().numpy().copy()
    kept: list[Person] = []
    notes: list[str] = []
    for person in people:
        face = _outline_cells(person, gh, gw, height, width, 0.0)
        cover = float((p[face] > PERSON).mean())
        if cover >= WHOLE:
            person.in_matte = "in the matte"
            kept.append(person)
        elif cover >= FILL_FROM:
            p[_outline_cells(person, gh, gw, height, width, HAIR_MARGIN)] = 1.0
            person.in_matte = f"face filled in ({cover:.0%} of it was in the person matte)"
            kept.append(person)
        else:
            p[_outline_cells(person, gh, gw, height, width, 2 * HAIR_MARGIN)] = 0.0
            person.in_matte = f"left out: the person matte covers {cover:.0%} of her face"
    n, pieces = cv2.connectedComponents((p > PERSON).astype(np.uint8), connectivity=8)
    if kept and n > 1:
        ys = (torch.arange(gh, dtype=torch.float32) + 0.5) * height / gh
        xs = (torch.arange(gw, dtype=torch.float32) + 0.5) * width / gw
        cost = _costs(kept, xs, ys).amin(-1).numpy()  # [gh,gw]: below 0 inside someone's silhouette
        lowest_chin = max(q.centre[1] + CHIN * q.size[1] for q in kept) * gh / height  # grid rows
        rows = np.arange(gh)[:, None].repeat(gw, 1)
        dropped = 0
        for c in range(1, n):
            inside = pieces == c
            # floating in the upper frame (not reaching below every chin) and in nobody's silhouette
            if float(cost[inside].min()) > 0 and float(rows[inside].max()) < lowest_chin:
                p[cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0.0
                dropped += 1
        if dropped:
            notes.append(f"{dropped} piece(s) of the person matte under no face left out")
    return MatteSplit(torch.from_numpy(p).to(prob.device, prob.dtype).clamp(0, 1), kept, notes)


def person_labels(people: list[Person], height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Which of ``people`` (nearest first) each pixel ``[height,width]`` belongs to (uint8 index), by
    :func:`_costs`, in bands of rows."""
    K = len(people)
    out = torch.zeros(height, width, dtype=torch.uint8, device=device)
    if K <= 1:
        return out
    xs = torch.arange(width, dtype=torch.float32, device=device) + 0.5
    band = max(1, LABEL_BAND_PIXELS // (K * width))
    for y0 in range(0, height, band):
        y1 = min(height, y0 + band)
        ys = torch.arange(y0, y1, dtype=torch.float32, device=device) + 0.5
        out[y0:y1] = _costs(people, xs, ys).argmin(-1).to(torch.uint8)
    return out


def main_person(people: list[Person]) -> Optional[Person]:
    """The person auto focus and the single-subject keys of the metadata mean: the nearest."""
    return people[0] if people else None
