"""PortraitGenerate: a batch of studio portraits of one stored identity, with the user's own checkpoint.

Methods: "keep face" (no extra weights: the selfie's face and hair are kept and everything else is
inpainted), "IP-Adapter FaceID" (SD 1.5 / SDXL; FaceID Plus / PlusV2 with a CLIP vision model on
clip_vision) and "InstantID" (SDXL, with its IdentityNet ControlNet);
"auto" takes the one the identity's face pack was made for. The identity is applied by the same code as
PortraitIdentityApply's (``services.identity_adapters.apply_identity``).
Image i of the batch takes style variation i and seed + i. Sampling goes through ``comfy.sample`` on a
clone of the model; one progress bar (with latent previews) spans the whole batch; sub-batches are
sized to the free memory; Cancel is honoured between and inside sub-batches.
"""

from __future__ import annotations

import logging
from typing import Any

import comfy.sample
import comfy.samplers
import comfy.utils
import numpy as np
import torch
from comfy_api.latest import io

from portraitos.engine.core.colour import to_uint8_rgb
from portraitos.engine.faces import FaceError, find_faces
from portraitos.engine.faces.analysis import find_faces_insightface, largest_first
from portraitos.engine.generation import (
    METHODS,
    SPEEDS,
    STYLES,
    build_prompts,
    effective_settings,
    frame_photo,
    keep_mask,
    method_for,
)
from portraitos.engine.generation.defaults import AUTO, INSTANTID, KEEP_FACE, STANDARD, WIDGET_DEFAULTS
from portraitos.engine.generation.photo_choice import choose_photo
from portraitos.engine.identity import Identity, photo_sha256
from portraitos.services import identity_adapters as adapters
from portraitos.services import identity_inputs as shared
from portraitos.services import runtime
from portraitos.services.missing_models import generation_message
from portraitos.services.readout import node_ui
from portraitos.services.sampling import SamplingPlan, sample_batch
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_GENERATE
from portraitos.services.socket_types import Identity as IdentityType
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")
MAX_BATCH = 20


class GenerateError(ValueError):
    """Bad input to PortraitGenerate; the message names the input and says what to do."""


def _find_face(photo_u8: np.ndarray, identity: Identity) -> tuple[tuple[float, float, float, float], Any] | None:
    """The face box of a selfie and its five keypoints ``[5,2]`` (None when the detector gives none): the
    identity's own when the photo is one it was made from, else the largest face the identity's face pack
    finds (detection at several sizes, as IdentityLoader), else the largest face OpenCV finds (no face pack
    installed; no keypoints). None when no face is found."""
    sha = photo_sha256(photo_u8)
    sources = list(identity.meta.get("source_sha256", []))
    if sha in sources:
        i = sources.index(sha)
        x0, y0, x1, y1 = (float(v) for v in identity.tensors["bbox"][i])
        return (x0, y0, x1, y1), identity.tensors["kps"][i]
    pack_name = identity.meta.get("model_pack")
    try:
        from portraitos.services.face_packs import face_pack

        found = find_faces_insightface(
            face_pack(str(pack_name), "CPU"), photo_u8, check_interrupt=runtime.check_interrupt
        )
        if found:
            face = largest_first(found)[0]
            x0, y0, x1, y1 = (float(v) for v in face.bbox[:4])
            kps = getattr(face, "kps", None)
            return (x0, y0, x1, y1), None if kps is None else torch.as_tensor(np.asarray(kps), dtype=torch.float32)
    except FaceError as e:
        log.info("PortraitGenerate: keep face uses OpenCV's detector (%s)", e)
    faces = find_faces(photo_u8)
    if not faces:
        return None
    x, y, w, h = max(faces, key=lambda f: f.box[2] * f.box[3]).box
    return (float(x), float(y), float(x + w), float(y + h)), None


def _keep_face_photo(photo: torch.Tensor, identity: Identity) -> tuple[np.ndarray, tuple, str | None]:
    """The selfie keep face keeps (uint8 RGB), its face box and, for a batch of several photos, the line
    saying which was chosen: the most frontal, sharpest, best-lit face (engine.generation.photo_choice)."""
    photos = [to_uint8_rgb(photo[i]) for i in range(photo.shape[0])]
    found = [_find_face(p, identity) for p in photos]
    if all(f is None for f in found):
        raise GenerateError(
            "keep face: no face found in photo; connect the selfie the identity was made from (or another "
            "sharp, frontal photo of the same person)"
        )
    if len(photos) == 1:
        return photos[0], found[0][0], None  # type: ignore[index]
    choice = choose_photo(
        [torch.from_numpy(p).float() / 255 for p in photos],
        [None if f is None else f[0] for f in found],
        [None if f is None else f[1] for f in found],
    )
    return photos[choice.index], found[choice.index][0], f"keep face: {choice.describe()}"  # type: ignore[index]


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
                    default=AUTO,
                    tooltip="auto: the method the identity's face pack is for (antelopev2 → InstantID on SDXL, "
                    "buffalo_l → IP-Adapter FaceID); IP-Adapter FaceID (SD 1.5/SDXL), InstantID (SDXL) or keep "
                    "face (no extra files; keeps the selfie's face)",
                ),
                io.Combo.Input(
                    "style",
                    options=list(STYLES),
                    default="studio headshot",
                    tooltip="A set of scenes, outfits and poses; image i of the batch takes the i-th",
                ),
                io.String.Input("prompt", default="", multiline=True, tooltip="Added to every image's prompt"),
                io.String.Input("negative", default="", multiline=True, tooltip="Added to every negative prompt"),
                shared.identity_strength(
                    "Strength of the identity tokens in the UNet's cross-attention (the adapter); 0 = no identity (and "
                    "no IdentityNet), negative = away from the face. IdentityNet has its own: controlnet_strength. "
                    "Ignored by keep face.",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    control_after_generate=True,
                    tooltip="Image i uses seed + i",
                ),
                io.Int.Input(
                    "steps",
                    default=WIDGET_DEFAULTS["steps"],
                    min=1,
                    max=200,
                    tooltip="Sampling steps per image (left at 30 with a fast speed: the fast setting's)",
                ),
                io.Float.Input(
                    "cfg",
                    default=WIDGET_DEFAULTS["cfg"],
                    min=0.0,
                    max=30.0,
                    step=0.1,
                    tooltip="Prompt guidance (InstantID: 4–5). Left at 5: 7.5 on SD 1.5, 1 with a fast speed",
                ),
                io.Combo.Input(
                    "sampler_name",
                    options=comfy.samplers.KSampler.SAMPLERS,
                    default=WIDGET_DEFAULTS["sampler_name"],
                    tooltip="ComfyUI's sampler, as in KSampler",
                ),
                io.Combo.Input(
                    "scheduler",
                    options=comfy.samplers.KSampler.SCHEDULERS,
                    default=WIDGET_DEFAULTS["scheduler"],
                    tooltip="ComfyUI's noise schedule, as in KSampler",
                ),
                shared.size("width", "SDXL 832, SD 1.5 512 (left at 832×1216 on SD 1.5: 512×768)"),
                shared.size("height", "SDXL 1216, SD 1.5 768 (left at 832×1216 on SD 1.5: 512×768)"),
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
                *shared.adapter_files(),
                io.Combo.Input(
                    "speed",
                    options=list(SPEEDS),
                    default=STANDARD,
                    optional=True,  # added after release: prompts saved without it keep working
                    tooltip="standard, or fast for a distilled model or LoRA you loaded (SDXL Lightning / Hyper / "
                    "Turbo; LCM): 6 steps, cfg 1, their sampler and sgm_uniform, for the widgets left at defaults",
                ),
                io.Image.Input(
                    "photo",
                    optional=True,
                    tooltip="The selfie itself (needed by keep face); a batch of several: the most frontal, "
                    "sharpest, best-lit face is kept (the node's text says which)",
                ),
                *shared.clip_vision_inputs(),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The portraits, one per batch item"),
                io.Latent.Output(display_name="latent", tooltip="Their latents, for upscaling or a second pass"),
                io.String.Output(display_name="prompts", tooltip="The prompt and seed of each image, one per line"),
            ],
        )

    # installed files, with where to put them and where to get them (a template names InstantID's files)
    OWN_CHECKS = ("adapter_file", "controlnet_file")

    @classmethod
    def missing_models(
        cls, method=None, adapter_file=None, controlnet_file=None, controlnet_strength=None, **_
    ) -> str | None:
        return generation_message(method, adapter_file, controlnet_file, controlnet_strength)

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
        speed=STANDARD,
        photo=None,
        clip_vision=None,
        shortcut_scale=1.0,
    ) -> io.NodeOutput:
        if method not in METHODS:
            raise GenerateError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if not isinstance(identity, Identity):
            raise GenerateError(f"identity must come from IdentityLoader, got {type(identity).__name__}")
        family = adapters.model_family(model)
        method = method_for(method, identity.meta.get("model_pack"), family)
        chosen = {
            "width": width,
            "height": height,
            "cfg": cfg,
            "steps": steps,
            "sampler_name": sampler_name,
            "scheduler": scheduler,
        }
        settings, notes = effective_settings(chosen, family, speed)
        for note in notes:
            log.info("PortraitGenerate: %s", note)
        width, height = settings["width"], settings["height"]
        if width % 8 or height % 8:
            raise GenerateError(f"width and height must be multiples of 8, got {width}×{height}")
        prompts = build_prompts(
            style, batch_size, seed, prompt, negative, identity.meta, use_age_gender, fixed_pose=method == INSTANTID
        )
        if family == "SD 1.5" and width * height > 1.5 * 768 * 768:
            log.warning("PortraitGenerate: %d×%d is large for SD 1.5 (made for 512×768 portraits)", width, height)
        patch = adapters.IdentityPatch(model, {}, {})
        readout: list[str] = []  # which photo / identity face was taken as the reference, when there was a choice
        keep = framed = None
        latent_in = None
        if method == KEEP_FACE:
            if photo is None:
                raise GenerateError("method 'keep face' needs the selfie on the photo input (it keeps its face)")
            rgb, box, picked = _keep_face_photo(photo, identity)
            if picked:
                readout.append(picked)
                log.info("PortraitGenerate: %s", picked)
            fp = frame_photo(torch.from_numpy(rgb).float() / 255, box, width, height)
            framed, keep = fp.image, keep_mask(fp.box, width, height)
            latent_in = vae.encode(framed[None])
        else:
            patch = adapters.apply_identity(
                model,
                identity,
                method,
                identity_strength,
                adapter_file,
                controlnet_file,
                controlnet_strength,
                lora_strength,
                width,
                height,
                vae=vae,
                clip_vision=clip_vision,
                shortcut_scale=shortcut_scale,
            )
            if patch.reference:
                readout.append(patch.reference)
        plan = SamplingPlan(
            settings["steps"], settings["cfg"], settings["sampler_name"], settings["scheduler"], width, height
        )
        controls = [patch.control] if patch.control is not None else []
        images, latents = sample_batch(
            patch.model,
            clip,
            vae,
            prompts,
            plan,
            patch.positive,
            patch.negative,
            latent_in,
            keep,
            framed,
            controls=controls,
            lora_bytes=patch.lora_bytes,
        )
        text = "\n".join(f"#{p.index + 1} seed {p.seed}: {p.positive}" for p in prompts)
        ui = None
        used = list(patch.used)  # which adapter / IdentityNet / LoRA files were used (text and run history)
        if readout or patch.skipped or used:
            # files "auto" passed over are shown on the node, not only logged: a broken file is the user's to fix
            values = {"reference": readout, "used": used}
            ui = node_ui(lines=readout + used, values=values, warnings=list(patch.skipped))
        return io.NodeOutput(images, {"samples": latents}, text, ui=ui)
