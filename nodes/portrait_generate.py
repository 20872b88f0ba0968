"""PortraitGenerate: a batch of studio portraits of one stored identity, with the user's own checkpoint.

Methods: "keep face" (no extra weights: the selfie's face and hair are kept and everything else is
inpainted), "IP-Adapter FaceID" (SD 1.5 / SDXL) and "InstantID" (SDXL, with its IdentityNet ControlNet).
Image i of the batch takes style variation i and seed + i. Sampling goes through ``comfy.sample`` on a
clone of the model; one progress bar (with latent previews) spans the whole batch; sub-batches are
sized to the free memory; Cancel is honoured between and inside sub-batches.
"""

from __future__ import annotations

import logging

import comfy.sample
import comfy.samplers
import comfy.utils
import numpy as np
import torch
from comfy_api.latest import io

from portraitos.engine.colour import to_uint8_rgb
from portraitos.engine.faces import find_faces
from portraitos.engine.generation import (
    FACE_PACK,
    STYLES,
    build_prompts,
    draw_keypoints,
    frame_photo,
    keep_mask,
    place_keypoints,
)
from portraitos.engine.identity import Identity, photo_sha256
from portraitos.services import identity_adapters as adapters
from portraitos.services.sampling import SamplingPlan, sample_batch
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_GENERATE
from portraitos.services.socket_types import Identity as IdentityType
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")
METHODS = ("IP-Adapter FaceID", "InstantID", "keep face")
MAX_BATCH = 20


class GenerateError(ValueError):
    """Bad input to PortraitGenerate; the message names the input and says what to do."""


def _needs_pack(identity: Identity, method: str) -> torch.Tensor:
    """The embedding ``method`` needs, after checking the identity was made with the right face pack."""
    pack = FACE_PACK["instantid" if method == "InstantID" else "faceid"]
    made = identity.meta.get("model_pack")
    if "embedding" not in identity.tensors or "embeddings_raw" not in identity.tensors:
        raise GenerateError(
            f"identity {identity.name!r} has no face embedding: create it again with IdentityLoader (mode create)"
        )
    if made != pack:
        raise GenerateError(
            f"identity {identity.name!r} was made with the face pack {made!r}, but {method} was trained on "
            f"{pack} embeddings: run IdentityLoader in mode create with face_model {pack} on the same selfie "
            f"(under a new name, e.g. '{identity.name}_{pack}') and use that identity"
        )
    if method == "InstantID":
        return identity.tensors["embeddings_raw"].float().mean(0)  # InstantID takes the raw ArcFace output
    return identity.embedding.float()  # FaceID takes the normalised embedding


def _face_box(photo_u8: np.ndarray, identity: Identity) -> tuple[float, float, float, float]:
    """The face box of the selfie: the identity's own when the photo is one it was made from, else the
    largest face OpenCV finds."""
    sha = photo_sha256(photo_u8)
    sources = list(identity.meta.get("source_sha256", []))
    if sha in sources:
        x0, y0, x1, y1 = (float(v) for v in identity.tensors["bbox"][sources.index(sha)])
        return x0, y0, x1, y1
    faces = find_faces(photo_u8)
    if not faces:
        raise GenerateError(
            "keep face: no face found in photo; connect the selfie the identity was made from (or another "
            "sharp, frontal photo of the same person)"
        )
    x, y, w, h = max(faces, key=lambda f: f.box[2] * f.box[3]).box
    return (float(x), float(y), float(x + w), float(y + h))


class PortraitGenerate(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("instantid", "ip-adapter faceid", "faceid", "headshot", "selfie to portrait")

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PortraitGenerate",
            display_name="Portrait Generate",
            category=CATEGORY_GENERATE,
            description="Studio portraits of a stored identity with your own SD 1.5 / SDXL checkpoint: InstantID "
            "(SDXL), IP-Adapter FaceID, or 'keep face' (no extra weights: the selfie's face is kept and the rest "
            "regenerated). Image i takes style variation i and seed + i.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model from your checkpoint loader (SDXL or SD 1.5)"),
                io.Clip.Input("clip", tooltip="The text encoder of the same checkpoint"),
                io.Vae.Input("vae", tooltip="The VAE of the same checkpoint"),
                IdentityType.Input("identity", tooltip="The person, from Identity Loader"),
                io.Combo.Input(
                    "method",
                    options=list(METHODS),
                    default=METHODS[0],
                    tooltip="IP-Adapter FaceID (SD 1.5/SDXL), InstantID (SDXL) or keep face "
                    "(no extra files; keeps the selfie's face)",
                ),
                io.Combo.Input(
                    "style",
                    options=list(STYLES),
                    default="studio headshot",
                    tooltip="A set of scenes, outfits and poses; image i of the batch takes the i-th",
                ),
                io.String.Input("prompt", default="", multiline=True, tooltip="Added to every image's prompt"),
                io.String.Input("negative", default="", multiline=True, tooltip="Added to every negative prompt"),
                io.Float.Input(
                    "identity_strength",
                    default=0.8,
                    min=0.0,
                    max=1.5,
                    step=0.05,
                    tooltip="Adapter (and IdentityNet) strength; 0 = no adapter. Ignored by keep face.",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    control_after_generate=True,
                    tooltip="Image i uses seed + i",
                ),
                io.Int.Input("steps", default=30, min=1, max=200, tooltip="Sampling steps per image"),
                io.Float.Input(
                    "cfg", default=5.0, min=0.0, max=30.0, step=0.1, tooltip="Prompt guidance (InstantID: 4–5)"
                ),
                io.Combo.Input(
                    "sampler_name",
                    options=comfy.samplers.KSampler.SAMPLERS,
                    default="dpmpp_2m",
                    tooltip="ComfyUI's sampler, as in KSampler",
                ),
                io.Combo.Input(
                    "scheduler",
                    options=comfy.samplers.KSampler.SCHEDULERS,
                    default="karras",
                    tooltip="ComfyUI's noise schedule, as in KSampler",
                ),
                io.Int.Input("width", default=832, min=64, max=4096, step=8, tooltip="SDXL 832, SD 1.5 512"),
                io.Int.Input("height", default=1216, min=64, max=4096, step=8, tooltip="SDXL 1216, SD 1.5 768"),
                io.Int.Input(
                    "batch_size",
                    default=4,
                    min=1,
                    max=MAX_BATCH,
                    tooltip="How many portraits (up to 20), all different",
                ),
                io.Boolean.Input(
                    "use_age_gender",
                    default=False,
                    tooltip="Let the identity's estimated age and gender steer the prompt",
                ),
                io.Combo.Input(
                    "adapter_file",
                    options=["auto", *adapters.all_adapter_files()],
                    default="auto",
                    tooltip="models/ipadapter (FaceID) or models/instantid (InstantID); auto: by method and family",
                ),
                io.Combo.Input(
                    "controlnet_file",
                    options=["auto", *adapters.controlnet_files()],
                    default="auto",
                    tooltip="InstantID's IdentityNet in models/controlnet; auto: a file with 'instantid' in its path",
                ),
                io.Float.Input(
                    "controlnet_strength",
                    default=0.8,
                    min=0.0,
                    max=1.5,
                    step=0.05,
                    tooltip="InstantID's IdentityNet (face position and shape) strength; 0 = off",
                ),
                io.Float.Input(
                    "lora_strength",
                    default=0.6,
                    min=0.0,
                    max=1.5,
                    step=0.05,
                    tooltip="Strength of FaceID's LoRA (in the adapter or in models/loras)",
                ),
                io.Image.Input("photo", optional=True, tooltip="The selfie itself (needed by keep face)"),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The portraits, one per batch item"),
                io.Latent.Output(display_name="latent", tooltip="Their latents, for upscaling or a second pass"),
                io.String.Output(display_name="prompts", tooltip="The prompt and seed of each image, one per line"),
            ],
        )

    @classmethod
    def execute(
        cls,
        model,
        clip,
        vae,
        identity,
        method,
        style,
        prompt,
        negative,
        identity_strength,
        seed,
        steps,
        cfg,
        sampler_name,
        scheduler,
        width,
        height,
        batch_size,
        use_age_gender,
        adapter_file,
        controlnet_file,
        controlnet_strength,
        lora_strength,
        photo=None,
    ) -> io.NodeOutput:
        if method not in METHODS:
            raise GenerateError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if not isinstance(identity, Identity):
            raise GenerateError(f"identity must come from IdentityLoader, got {type(identity).__name__}")
        if width % 8 or height % 8:
            raise GenerateError(f"width and height must be multiples of 8, got {width}×{height}")
        prompts = build_prompts(style, batch_size, seed, prompt, negative, identity.meta, use_age_gender)
        family = adapters.model_family(model)
        if family == "SD 1.5" and width * height > 1.5 * 768 * 768:
            log.warning("PortraitGenerate: %d×%d is large for SD 1.5 (made for 512×768 portraits)", width, height)
        work = model
        extra_pos: dict = {}
        extra_neg: dict = {}
        keep = framed = None
        latent_in = None
        if method == "keep face":
            if photo is None:
                raise GenerateError("method 'keep face' needs the selfie on the photo input (it keeps its face)")
            rgb = to_uint8_rgb(photo[0])
            fp = frame_photo(torch.from_numpy(rgb).float() / 255, _face_box(rgb, identity), width, height)
            framed, keep = fp.image, keep_mask(fp.box, width, height)
            latent_in = vae.encode(framed[None])
        elif identity_strength > 0:
            embedding = _needs_pack(identity, method)
            if adapter_file in (None, "", "auto"):
                adapter, sites, skipped = adapters.load_auto_adapter(method, family, model)
                for line in skipped:
                    log.warning("PortraitGenerate: adapter_file auto skipped %s", line)
            else:
                adapter = adapters.load_adapter(adapters.resolve_adapter(method, adapter_file, family))
                sites = adapters.check_adapter(adapter, method, model)
            cond_tok, uncond_tok = adapters.identity_tokens(adapter, embedding)
            lora_file = None
            if adapter.layout.kind == "faceid" and not adapter.layout.lora_rank:
                lora_file = adapters.separate_lora(adapter.path)
            work = adapters.patch_model(
                model, adapter, sites, cond_tok, uncond_tok, identity_strength, lora_strength, lora_file
            )
            if method == "InstantID" and controlnet_strength > 0:
                if controlnet_file in (None, "", "auto"):
                    net, skipped = adapters.load_auto_identitynet()
                    for line in skipped:
                        log.warning("PortraitGenerate: controlnet_file auto skipped %s", line)
                else:
                    net = adapters.load_identitynet(adapters.resolve_controlnet(controlnet_file))
                kps = place_keypoints(identity.tensors["kps"][0], identity.tensors["bbox"][0], width, height)
                hint = draw_keypoints(kps, width, height)[None].movedim(-1, 1)
                control = net.copy().set_cond_hint(hint, controlnet_strength, (0.0, 1.0), vae=vae)
                extra_pos = {"control": control, "control_apply_to_uncond": False, "cross_attn_controlnet": cond_tok}
                extra_neg = {"control": control, "control_apply_to_uncond": False, "cross_attn_controlnet": uncond_tok}

        plan = SamplingPlan(steps, cfg, sampler_name, scheduler, width, height)
        images, latents = sample_batch(work, clip, vae, prompts, plan, extra_pos, extra_neg, latent_in, keep, framed)
        text = "\n".join(f"#{p.index + 1} seed {p.seed}: {p.positive}" for p in prompts)
        return io.NodeOutput(images, {"samples": latents}, text)
