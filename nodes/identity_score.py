"""IdentityScore: how much each generated portrait looks like the stored identity.

For every image, the cosine similarity of its largest face's ArcFace embedding (from the face pack the
identity was made with) to the identity's embedding. The batch comes back sorted best first, with the
scores and a mask marking images whose face is missing or scores below the threshold: users pick the
best of twenty, pipelines drop the failures.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from comfy_api.latest import io, ui

from portraitos.engine.colour import to_uint8_rgb
from portraitos.engine.faces import PROVIDERS
from portraitos.engine.faces.analysis import find_faces_insightface, photo_shape_problem
from portraitos.engine.identity import Identity, normalise
from portraitos.services import runtime
from portraitos.services.face_packs import face_pack
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_IDENTITY
from portraitos.services.socket_types import Identity as IdentityType
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")


def largest_face_embedding(pack, rgb: np.ndarray) -> torch.Tensor | None:
    """The normalised embedding ``[512]`` of the largest face of a uint8 RGB photo, or None (no face, or
    a picture no detector can search: that one image fails, not the batch)."""
    problem = photo_shape_problem(*rgb.shape[:2])
    if problem:
        log.warning("IdentityScore: %s", problem)
        return None
    faces = find_faces_insightface(pack, rgb)
    if not faces:
        return None
    face = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
    return normalise(torch.as_tensor(np.asarray(face.embedding, np.float32)))


def score_images(pack, identity: Identity, images: torch.Tensor, progress=None, check_interrupt=None) -> torch.Tensor:
    """Cosine similarity ``[B]`` of each image's largest face to the identity; NaN where no face is found."""
    target = normalise(identity.embedding.float())
    scores = []
    for i in range(images.shape[0]):
        if check_interrupt is not None:
            check_interrupt()
        emb = largest_face_embedding(pack, to_uint8_rgb(images[i]))
        scores.append(float("nan") if emb is None else float(emb @ target))
        if progress is not None:
            progress(i + 1, images.shape[0])
    return torch.tensor(scores, dtype=torch.float32)


class IdentityScore(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("face similarity", "identity check", "rank", "best of batch")

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="IdentityScore",
            display_name="Portrait Identity Score",
            category=CATEGORY_IDENTITY,
            description="Score each image's largest face against the identity (ArcFace cosine similarity, same "
            "face pack as the identity); sort the batch best first and mark missing faces and low scores.",
            inputs=[
                io.Image.Input("images", tooltip="Generated portraits to score (a batch)"),
                IdentityType.Input("identity", tooltip="The person they should show, from Identity Loader"),
                io.Float.Input(
                    "threshold",
                    default=0.4,
                    min=-1.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Below this similarity an image counts as failed (ArcFace: same person ≳ 0.4)",
                ),
                io.Combo.Input(
                    "provider", options=list(PROVIDERS), default="CPU", tooltip="Where InsightFace runs (CPU, CUDA, …)"
                ),
            ],
            outputs=[
                io.Image.Output(display_name="sorted_images", tooltip="The batch, most similar first"),
                io.Float.Output(
                    display_name="scores", is_output_list=True, tooltip="Cosine similarity of each, in sorted order"
                ),
                io.Mask.Output(
                    display_name="failed", tooltip="1 for images with no face or a score below the threshold"
                ),
                io.String.Output(display_name="report", tooltip="Each image's rank, score and verdict as text"),
            ],
        )

    @classmethod
    def execute(cls, images, identity, threshold, provider) -> io.NodeOutput:
        if not isinstance(identity, Identity):
            raise ValueError(f"identity must come from IdentityLoader, got {type(identity).__name__}")
        pack_name = identity.meta.get("model_pack")
        if not pack_name:
            raise ValueError(f"identity {identity.name!r} does not record its face pack; create it again")
        pack = face_pack(pack_name, provider)
        scores = score_images(
            pack,
            identity,
            images,
            progress=runtime.progress_callback(images.shape[0]),
            check_interrupt=runtime.check_interrupt,
        )
        ranked = torch.where(torch.isnan(scores), torch.full_like(scores, -2.0), scores)
        order = torch.argsort(ranked, descending=True, stable=True)
        failed = (ranked[order] < threshold).float()
        b, h, w = images.shape[0], images.shape[1], images.shape[2]
        mask = failed[:, None, None].expand(b, h, w).contiguous()
        lines = [
            f"#{int(i) + 1}: "
            + ("no face" if torch.isnan(scores[i]) else f"{float(scores[i]):.3f}")
            + (" (failed)" if f else "")
            for i, f in zip(order.tolist(), failed.tolist())
        ]
        text = "\n".join(lines)
        return io.NodeOutput(images[order], [float(scores[i]) for i in order], mask, text, ui=ui.PreviewText(text))
