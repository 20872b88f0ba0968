"""How much each image looks like a stored identity: the cosine similarity of its largest face's ArcFace
embedding (from the face pack the identity was made with) to the identity's, and the batch ranked by
it. Images are ``[B,H,W,C]`` float 0..1; scores are cosine similarities in -1..1, NaN where no face is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..core.colour import to_uint8_rgb
from ..core.progress import Progress
from ..faces.analysis import FacePack, find_faces_insightface, largest_first, photo_shape_problem
from .file_format import Identity, normalise

log = logging.getLogger("PortraitOS")
NO_FACE_RANK = -2.0  # below every cosine similarity: images without a face rank last


def largest_face_embedding(pack: FacePack, rgb: np.ndarray, why: Optional[list[str]] = None) -> Optional[torch.Tensor]:
    """The normalised embedding ``[512]`` of the largest face of a uint8 RGB photo ``[H,W,3]``, or None (no
    face, or a picture no detector can search: that one image fails, not the batch); then the reason is
    appended to ``why``."""
    problem = photo_shape_problem(*rgb.shape[:2])
    if problem:
        log.warning("IdentityScore: %s", problem)
        if why is not None:
            why.append(problem)
        return None
    faces = find_faces_insightface(pack, rgb)
    if not faces:
        if why is not None:
            why.append("no face found")
        return None
    return normalise(torch.as_tensor(np.asarray(largest_first(faces)[0].embedding, np.float32)))


def score_images(
    pack: FacePack,
    identity: Identity,
    images: torch.Tensor,
    progress: Progress | Callable[[int, int], None] | None = None,
    check_interrupt: Optional[Callable[[], None]] = None,
    reasons: Optional[list[str]] = None,
) -> torch.Tensor:
    """Cosine similarity ``[B]`` of each image's largest face to the identity; NaN where no face is found.
    ``reasons``: filled with one entry per image, why it has no score ("" when it has one). Each image is a
    step of ``progress`` (a :class:`Progress`, or a ``(done, total)`` callback with ``check_interrupt()``
    beside it; Cancel honoured before each)."""
    target = normalise(identity.embedding.float())
    scores = []
    bar = Progress.of(progress, check_interrupt, total=images.shape[0])
    for i in range(images.shape[0]):
        bar.check()
        why: list[str] = []
        emb = largest_face_embedding(pack, to_uint8_rgb(images[i]), why)
        scores.append(float("nan") if emb is None else float(emb @ target))
        if reasons is not None:
            reasons.append("; ".join(why))
        bar.advance(i + 1, images.shape[0])
    return torch.tensor(scores, dtype=torch.float32)


@dataclass(frozen=True)
class Ranking:
    """A batch ranked by score: ``order [B]`` (indices, best first, stable), ``failed [B]`` (1.0 in ranked
    order where the face is missing or scores below the threshold), one report line per image."""

    order: torch.Tensor
    failed: torch.Tensor
    lines: list[str]


def rank(scores: torch.Tensor, threshold: float, reasons: Optional[list[str]] = None) -> Ranking:
    """Rank scores ``[B]`` (NaN: no face) best first against ``threshold`` (cosine similarity). ``reasons``
    (per image, from :func:`score_images`): why an image without a score has none, shown in its line."""

    def no_face(i: int) -> str:
        why = reasons[i] if reasons is not None and i < len(reasons) else ""
        return f"no face ({why})" if why and why != "no face found" else "no face"

    ranked = torch.where(torch.isnan(scores), torch.full_like(scores, NO_FACE_RANK), scores)
    order = torch.argsort(ranked, descending=True, stable=True)
    failed = (ranked[order] < threshold).float()
    lines = [
        f"#{int(i) + 1}: "
        + (no_face(int(i)) if torch.isnan(scores[i]) else f"{float(scores[i]):.3f}")
        + (" (failed)" if f else "")
        for i, f in zip(order.tolist(), failed.tolist())
    ]
    return Ranking(order, failed, lines)
