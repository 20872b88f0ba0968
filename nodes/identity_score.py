"""IdentityScore: how much each generated portrait looks like the stored identity (the scoring is
``engine.identity.scoring``). The batch comes back sorted best first, with the scores and a mask
marking images whose face is missing or scores below the threshold: users pick the best of twenty,
pipelines drop the failures."""

from __future__ import annotations

from comfy_api.latest import io, ui

from portraitos.engine.faces import PROVIDERS
from portraitos.engine.identity import Identity
from portraitos.engine.identity.scoring import rank, score_images
from portraitos.services import runtime
from portraitos.services.face_packs import face_pack
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_IDENTITY
from portraitos.services.socket_types import Identity as IdentityType
from portraitos.services.validation import SchemaChecked


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
        reasons: list[str] = []
        scores = score_images(
            pack,
            identity,
            images,
            progress=runtime.progress(images.shape[0]),
            reasons=reasons,
        )
        ranking = rank(scores, threshold, reasons)
        order = ranking.order
        b, h, w = images.shape[0], images.shape[1], images.shape[2]
        mask = ranking.failed[:, None, None].expand(b, h, w).contiguous()
        text = "\n".join(ranking.lines)
        return io.NodeOutput(images[order], [float(scores[i]) for i in order], mask, text, ui=ui.PreviewText(text))
