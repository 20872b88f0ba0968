"""PortraitIdentityApply: a stored identity applied to your MODEL and CONDITIONING, for any sampler.

MODEL, positive and negative CONDITIONING in; the patched MODEL (a clone: the adapter's attention patches
and FaceID's LoRA) and the positive / negative CONDITIONING (InstantID: IdentityNet with its keypoint image
and the face tokens as its context) out. KSampler, SamplerCustom, detailers and upscalers follow as usual.
PortraitGenerate applies the identity with the same code (``services.identity_adapters.apply_identity``).
"""

from __future__ import annotations

import logging

from comfy_api.latest import io

from portraitos.engine.generation import method_for
from portraitos.engine.generation.defaults import AUTO, FACEID, INSTANTID
from portraitos.engine.identity import Identity
from portraitos.services import identity_adapters as adapters
from portraitos.services import identity_inputs as shared
from portraitos.services.readout import node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_GENERATE
from portraitos.services.socket_types import Identity as IdentityType
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")
APPLY_METHODS = (AUTO, INSTANTID, FACEID)
KEYPOINT_PICTURE = "InstantID: the picture the face keypoints are drawn for (use your latent's size)"


class PortraitIdentityApply(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("apply instantid", "apply faceid", "ip-adapter faceid", "identity adapter", "face id")

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PortraitIdentityApply",
            display_name="Portrait Identity Apply",
            category=CATEGORY_GENERATE,
            description="Apply a stored identity to your model and conditioning (InstantID on SDXL, IP-Adapter "
            "FaceID or FaceID Plus / PlusV2 (with a CLIP vision model) on SD 1.5 / SDXL), then sample with any "
            "sampler. The model comes back patched (a clone), the conditioning with InstantID's IdentityNet.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model (SDXL or SD 1.5), after any LoRA you use"),
                io.Conditioning.Input("positive", tooltip="Your positive prompt's conditioning"),
                io.Conditioning.Input("negative", tooltip="Your negative prompt's conditioning"),
                IdentityType.Input("identity", tooltip="The person, from Identity Loader"),
                io.Combo.Input(
                    "method",
                    options=list(APPLY_METHODS),
                    default=AUTO,
                    tooltip="auto: the method the identity's face pack is for (antelopev2 → InstantID, buffalo_l "
                    "→ IP-Adapter FaceID)",
                ),
                shared.identity_strength(
                    "Strength of the identity tokens in the UNet's cross-attention; 0 = nothing applied, "
                    "negative = away from the face (cubiq's range)"
                ),
                *shared.adapter_files(),
                shared.size("width", KEYPOINT_PICTURE),
                shared.size("height", KEYPOINT_PICTURE),
                io.Vae.Input("vae", optional=True, tooltip="Optional: your checkpoint's VAE (as ControlNet apply)"),
                *shared.clip_vision_inputs(),
                *shared.control_inputs(),
            ],
            outputs=[
                io.Model.Output(display_name="model", tooltip="The model with the identity (a patched clone)"),
                io.Conditioning.Output(display_name="positive", tooltip="Positive conditioning (with IdentityNet)"),
                io.Conditioning.Output(display_name="negative", tooltip="Negative conditioning (with IdentityNet)"),
            ],
        )

    @classmethod
    def execute(
        cls,
        model,
        positive,
        negative,
        identity,
        method,
        identity_strength,
        adapter_file,
        controlnet_file,
        controlnet_strength,
        lora_strength,
        width,
        height,
        vae=None,
        clip_vision=None,
        shortcut_scale=1.0,
        start_at=0.0,
        end_at=1.0,
        controlnet_start=0.0,
        controlnet_end=1.0,
        noise=0.0,
        weight_type="linear",
        embeds_scaling="V only",
        combine_embeds="average",
        image_kps=None,
        attn_mask=None,
        latent=None,
    ) -> io.NodeOutput:
        if not isinstance(identity, Identity):
            raise ValueError(f"identity must come from IdentityLoader, got {type(identity).__name__}")
        if method not in APPLY_METHODS:
            raise ValueError(f"method must be one of {', '.join(APPLY_METHODS)}, got {method!r}")
        method = method_for(method, identity.meta.get("model_pack"), adapters.model_family(model))
        if latent is not None:  # the keypoint picture at the latent's size: nothing for ComfyUI to crop
            samples = latent["samples"]
            width, height = int(samples.shape[-1]) * 8, int(samples.shape[-2]) * 8
        options = adapters.IdentityOptions(
            start_at=start_at,
            end_at=end_at,
            controlnet_start=controlnet_start,
            controlnet_end=controlnet_end,
            noise=noise,
            weight_type=weight_type,
            embeds_scaling=embeds_scaling,
            combine_embeds=combine_embeds,
            mask=attn_mask,
            image_kps=image_kps,
        )
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
            node="PortraitIdentityApply",
            clip_vision=clip_vision,
            shortcut_scale=shortcut_scale,
            options=options,
        )
        cache: dict = {}
        pos = adapters.conditioning_with(positive, patch.positive, cache)
        neg = adapters.conditioning_with(negative, patch.negative, cache)
        # the files used, and what "auto" passed over or a LoRA already in the model, on the node and in the
        # run's history (values)
        used = list(patch.used)
        ui = node_ui(lines=used, values={"used": used}, warnings=list(patch.skipped)) if used or patch.skipped else None
        return io.NodeOutput(patch.model, pos, neg, ui=ui)
