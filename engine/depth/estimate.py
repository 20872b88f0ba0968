"""DepthEstimate without ComfyUI: image in, metric depth (metres) + subject matte out.

Backends: a depth network from ``depth_models`` or the weight-free ``portrait_prior``. Relative
networks are calibrated to metres in disparity (subject from the face's size or the given
distance, far plane from ``background_distance_m``); metric ones are rescaled to the given focal
length (depth ∝ focal length for a fixed image). Depth is inferred at the network's resolution and
brought to the image's by joint bilateral upsampling, so its edges follow the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F

from ..core.camera import DEFAULT_FOCAL_LENGTH_MM, DEFAULT_SENSOR, pixels_per_mm
from ..core.finite import finite_pixels
from ..core.progress import Progress
from ..faces.distance import distance_from_eyes
from ..faces.landmarks import FaceLandmarks
from ..people.face_finding import find_faces_all
from ..people.person import eye_positions, people_from_faces, people_meta, person_labels
from ..people.person_matte import found_person, person_probability, refine_to_image
from ..people.subject_matte import SOLID_MATTE
from .calibration import Anchor, calibrate_with_anchors
from .depth_map import ASSUMED, CALIBRATED, ESTIMATED, MIN_DEPTH_M, DepthMap
from .layout import background_layout
from .matte import snap_depth_to_matte, subject_weight_from_depth
from .networks import DepthNetwork, predict
from .portrait_prior import DEFAULT_SUBJECT_M, PROGRESS_STEPS, people_standing, portrait_prior
from .portrait_prior import NAME as PRIOR_NAME
from .resample import joint_bilateral_upsample, upsample

MIN_SIDE = 32


@dataclass(frozen=True)
class EstimateSettings:
    subject_distance_m: float = 0.0  # 0 = estimate
    background_distance_m: float = 6.0
    focal_length_mm: float = DEFAULT_FOCAL_LENGTH_MM  # the lens the photo was taken with
    sensor: str = DEFAULT_SENSOR
    refine_edges: bool = True


def normalise_image(image: torch.Tensor) -> torch.Tensor:
    """Accept grey ``[B,H,W,1]``, RGB or RGBA IMAGE tensors; return ``[B,H,W,3]`` float 0..1."""
    if image.dim() == 3:
        image = image.unsqueeze(-1)
    if image.dim() != 4:
        raise ValueError(f"image must be [B,H,W,C], got shape {tuple(image.shape)}")
    c = image.shape[-1]
    if c == 1:
        image = image.expand(-1, -1, -1, 3)
    elif c == 4:
        image = image[..., :3]
    elif c != 3:
        raise ValueError(f"image must have 1, 3 or 4 channels, got {c}")
    if min(image.shape[1:3]) < MIN_SIDE:
        raise ValueError(
            f"image {image.shape[2]}×{image.shape[1]} is too small for depth estimation "
            f"(at least {MIN_SIDE} px on each side)"
        )
    return image.float().clamp(0, 1)


def estimate_depth(
    image: torch.Tensor,
    settings: EstimateSettings,
    network: Optional[DepthNetwork] = None,
    device: Optional[torch.device] = None,
    progress: Progress | Callable[[int, int], None] | None = None,
    check_interrupt: Optional[Callable[[], None]] = None,
) -> tuple[DepthMap, torch.Tensor]:
    """Depth for a batch ``[B,H,W,C]``: a DepthMap (metres at the image's size) and a subject matte ``[B,H,W]``.

    ``progress``: a :class:`Progress` (the nodes give ComfyUI's bar and Cancel), or a ``(done, total)``
    callback with ``check_interrupt()`` (raises to cancel) beside it; each image takes an equal share,
    counted in :data:`PROGRESS_STEPS` steps. Cancel is honoured between steps of well under a second
    each, within every image.
    """
    image = normalise_image(finite_pixels(image, "image"))
    device = device or image.device
    b, H, W, _ = image.shape
    ppm = pixels_per_mm(H, W, settings.sensor)
    depths, mattes, metas, layers = [], [], [], []
    bar = Progress.of(progress, check_interrupt, total=b * PROGRESS_STEPS)
    for i in range(b):
        bar.check()
        within = bar.span(i, i + 1, b)

        img = image[i].to(device)
        if network is None:
            d, m, meta, layer = portrait_prior(
                img,
                ppm,
                settings.focal_length_mm,
                settings.subject_distance_m,
                settings.background_distance_m,
                progress=within,
            )
            layers.append(layer.float())
            source = ASSUMED
        else:
            d, m, meta, source = _with_network(img, network, settings, ppm, device, within)
        depths.append(d.float())
        mattes.append(m.float())
        metas.append(meta)
        within.advance(1)
    meta = dict(metas[0])
    if b > 1:
        meta["per_image"] = metas
    meta.setdefault("focal_length_mm", settings.focal_length_mm)
    meta["sensor"] = settings.sensor
    # the prior puts every person in front of a background plane: she is a layer of her own
    dm = DepthMap(torch.stack(depths), source, meta, layer_alpha=torch.stack(layers) if layers else None)
    return dm, torch.stack(mattes)


def _with_network(
    img: torch.Tensor,
    net: DepthNetwork,
    settings: EstimateSettings,
    ppm: float,
    device: torch.device,
    progress: Progress = Progress(),
):
    H, W, _ = img.shape

    step = progress.on_step(PROGRESS_STEPS)
    pred = predict(net, img[None], device, progress.check if progress.cancellable else None)
    step(40)
    low = pred.values.to(img.device).float()
    # bring the network's output to the image's resolution; disparity is what varies smoothly
    low_disp = 1.0 / low.clamp_min(MIN_DEPTH_M) if pred.metric else low
    if settings.refine_edges:
        disp = joint_bilateral_upsample(low_disp, img[None], progress=progress.span(40, 85, PROGRESS_STEPS))[0]
    else:
        disp = upsample(low_disp, (H, W))[0]
    step(85)
    values = 1.0 / disp.clamp_min(1e-4) if pred.metric else disp
    meta: dict[str, Any] = {"model": net.name, "kind": net.kind, "metric_output": pred.metric}
    seg = person_probability(img)
    people = people_from_faces(find_faces_all(img, prob=seg), settings.focal_length_mm, ppm)
    face = people[0].face if people else None
    eyes_m = None
    if face is not None:
        meta["eye_xy"] = eye_positions(face, H, W)
        iris = face.iris_diameters_px
        eyes_m = distance_from_eyes(
            float(iris.mean()) if iris is not None else None, face.interpupillary_px, settings.focal_length_mm, ppm
        )
        # the faces' own distances, as measured (the depth is the network's, scaled at person 1's eyes)
        meta.update(faces_found=len(people), people_found=len(people), people=people_meta(people, H, W))
    step(90)
    # the person's outline from the segmentation, where the network's edge is soft
    prob = seg if face is not None else None
    person = refine_to_image(prob, img, eps=1e-3) if prob is not None and found_person(prob) else None
    if pred.metric:
        depth = values.clamp_min(MIN_DEPTH_M)
        source = ESTIMATED
        if pred.focal_px is not None:
            # depth ∝ focal length for a fixed image: make it consistent with the requested framing
            f_est_px = pred.focal_px[0] * W / _network_width(net, H, W)
            f_user_px = settings.focal_length_mm * ppm
            depth = depth * (f_user_px / f_est_px)
            meta["estimated_focal_length_mm"] = round(f_est_px / ppm, 2)
            meta["rescaled_to_focal_length_mm"] = settings.focal_length_mm
        subject = _subject_region(depth, face, person, H, W)
        target, how = settings.subject_distance_m, "given"
        if target <= 0 and eyes_m is not None and face is not None and eyes_m[1].startswith("iris"):
            # the iris (±4 %) is a steadier scale than a monocular network's; the pupils' spacing is not
            target, how = eyes_m
            subject = _eye_region(face, H, W, depth.device)
        if target > 0:
            scale = target / float(depth[subject].median())
            depth = depth * scale
            meta["scaled_to_subject_distance"] = round(scale, 4)
            meta["subject_distance_from"] = how
            source = CALIBRATED
        meta["subject_distance_m"] = round(float(depth[subject].median()), 3)
    else:
        rel = values
        subject_m, how = settings.subject_distance_m, "given"
        if subject_m <= 0:
            if eyes_m is not None:
                subject_m, how = eyes_m
            else:
                subject_m, how = DEFAULT_SUBJECT_M, f"no face found: assumed {DEFAULT_SUBJECT_M} m"
        subject = _subject_region(1.0 / (rel - rel.min() + 1e-3), face, person, H, W)
        background_m = max(settings.background_distance_m, subject_m * 1.2)
        anchors = _anchors(img, people, subject, subject_m, how, person, H, W)
        depth, fit = calibrate_with_anchors(rel, anchors, background_m, subject)
        meta.update(
            calibration=fit,
            subject_distance_from=how,
            subject_distance_m=round(subject_m, 3),
            background_distance_m=background_m,
        )
        source = CALIBRATED
    if person is not None:
        depth = snap_depth_to_matte(depth, person, SOLID_MATTE)
        matte = person
        meta["matte"] = "selfie segmentation + guided filter"
    else:
        matte = subject_weight_from_depth(depth[None])[0]
    meta["refined_edges"] = settings.refine_edges
    return depth, matte, meta, source


def _anchors(
    img: torch.Tensor,
    people: list,
    subject: torch.Tensor,
    subject_m: float,
    how: str,
    person: Optional[torch.Tensor],
    H: int,
    W: int,
) -> list[Anchor]:
    """Every metric anchor for a relative network: person 1 (``subject`` region) at ``subject_m``; every
    other person at her own measured distance (scaled with person 1's when that was given); the ground
    plane where the background's layout found one fixed by a person's ground contact
    (:mod:`layout`)."""
    anchors = [Anchor(f"person 1 at {subject_m:.2f} m ({how})", subject, 1.0 / subject_m, 1.0)]
    scale = subject_m / people[0].distance_m if people else 1.0
    for p in people[1:]:
        z = p.distance_m * scale
        anchors.append(Anchor(f"person {p.number} at {z:.2f} m", _eye_region(p.face, H, W, img.device), 1.0 / z))
    if person is not None and people:
        solid = person > SOLID_MATTE
        labels = person_labels(people, H, W, img.device)
        standing = people_standing(people, labels, solid)
        for st in standing:
            st.distance_m *= scale
        layout = background_layout(img, solid, standing, 1e3)
        # a ground the texture shows, fixed by a contact (one from the contacts alone adds no anchor)
        texture = str(layout.meta.get("ground_from", "")).startswith("texture")
        if layout.receding and texture and "contact" in str(layout.meta.get("anchor", "")):
            bg = ~F.max_pool2d(solid.float()[None, None], 9, stride=1, padding=4)[0, 0].bool()
            name = f"{layout.meta['background']} ({layout.meta['anchor']})"
            anchors.append(Anchor(name, bg, 1.0 / layout.depth, 1.0))
    return anchors


def _network_width(net: DepthNetwork, H: int, W: int) -> float:
    if net.kind == "depth_pro":
        return float(net.input_size)
    return float(W)


def _subject_region(
    depth: torch.Tensor, face: Optional[FaceLandmarks], person: Optional[torch.Tensor], H: int, W: int
) -> torch.Tensor:
    """Boolean ``[H,W]``: the central part of the face when one was found, else the person matte,
    else the near cluster of depth."""
    if face is not None:
        x0, y0, x1, y1 = face.detection.box
        w, h = x1 - x0, y1 - y0
        m = torch.zeros(H, W, dtype=torch.bool, device=depth.device)
        ya, yb = max(0, int(y0 + h / 4)), min(H, int(y0 + 3 * h / 4) + 1)
        xa, xb = max(0, int(x0 + w / 4)), min(W, int(x0 + 3 * w / 4) + 1)
        m[ya:yb, xa:xb] = True
        if bool(m.any()):
            return m
    if person is not None and bool((person > 0.5).any()):
        return person > 0.5
    return subject_weight_from_depth(depth[None])[0] > 0.5


def _eye_region(face: FaceLandmarks, H: int, W: int, device) -> torch.Tensor:
    """Boolean ``[H,W]``: small discs around both eyes (what the iris distance measures)."""
    m = torch.zeros(H, W, dtype=torch.bool, device=device)
    r = max(1, round(0.15 * face.interpupillary_px))
    for x, y in face.eye_centres.tolist():
        cx, cy = min(W - 1, max(0, int(x))), min(H - 1, max(0, int(y)))
        m[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1] = True
    return m


PRIOR = PRIOR_NAME
