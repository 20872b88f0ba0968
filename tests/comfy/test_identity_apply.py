"""PortraitIdentityApply: the identity on the user's own MODEL and CONDITIONING, sampled by ComfyUI's stock
KSampler, gives PortraitGenerate's image for the same seed (both apply it with the same code)."""

# ruff: noqa: F811  (the imported fixture is taken as a test argument)
from __future__ import annotations

import pytest
import torch

from portraitos.engine.generation import build_prompts
from portraitos.testing.comfy_host import run_node
from portraitos.testing.tiny_diffusion_models import (
    build_clip_vision,
    build_diffusers_identitynet,
    faceid_plus_state_dict,
    faceid_state_dict,
    instantid_state_dict,
    save_bin,
)
from portraitos.tests.comfy.test_portrait_generate import (  # noqa: F401  (the module's tiny-model fixture)
    FAST,
    STEPS,
    _clear,
    _empty,
    _run,
    tiny,
)


def _apply_then_ksampler(tiny, family, identity, method, fixed_pose, **apply_kw):
    n = tiny["nodes"]
    model, clip, vae = tiny["models"][family]
    p = build_prompts("studio headshot", 1, 7, fixed_pose=fixed_pose)[0]
    pos = n.CLIPTextEncode().encode(clip, p.positive)[0]
    neg = n.CLIPTextEncode().encode(clip, p.negative)[0]
    apply = n.NODE_CLASS_MAPPINGS["PortraitIdentityApply"]
    inputs = {
        "method": method,
        "identity_strength": 0.8,
        "adapter_file": "auto",
        "controlnet_file": "auto",
        "controlnet_strength": 0.8,
        "lora_strength": 0.6,
        "width": 64,
        "height": 64,
        **apply_kw,
    }
    patched, pos2, neg2 = run_node(
        apply, model=model, positive=pos, negative=neg, identity=identity, vae=vae, **inputs
    ).args
    assert patched is not model and not model.model_options.get("transformer_options", {}).get("patches_replace")
    latent = n.EmptyLatentImage().generate(64, 64, 1)[0]
    cfg, steps = FAST["cfg"], STEPS[family]
    out = n.KSampler().sample(patched, 7, steps, cfg, "euler", "normal", pos2, neg2, latent)[0]
    return n.VAEDecode().decode(vae, out)[0], (pos2, neg2)


@pytest.mark.parametrize("method", ["IP-Adapter FaceID", "InstantID", "FaceID PlusV2"])
def test_stock_ksampler_on_the_apply_nodes_outputs_gives_portrait_generates_image(tiny, method, tmp_path):
    extra = {}
    if method == "FaceID PlusV2":
        family, pack = "sd15", "buffalo_l"
        _clear(tiny, "ipadapter")
        save_bin(faceid_plus_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid-plusv2_sd15.bin")
        extra = {"clip_vision": build_clip_vision(tmp_path), "shortcut_scale": 0.7}
        method = "IP-Adapter FaceID"
    elif method == "InstantID":
        family, pack = "sdxl", "antelopev2"
        _empty(tiny, "instantid")
        _empty(tiny, "controlnet")
        save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
        build_diffusers_identitynet(tiny["root"] / "controlnet" / "diffusion_pytorch_model.safetensors")
    else:
        family, pack = "sd15", "buffalo_l"
        _clear(tiny, "ipadapter")
        save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    ident = tiny["ids"][(pack, "astro")]
    stock, (pos, neg) = _apply_then_ksampler(tiny, family, ident, "auto", method == "InstantID", **extra)
    if method == "InstantID":
        assert all("control" in d and d["cross_attn_controlnet"].shape[1] == 16 for _, d in pos + neg)
    generated = _run(tiny, family, ident, method="auto", identity_strength=0.8, **extra)[0]
    assert torch.allclose(stock, generated, atol=1e-4), float((stock - generated).abs().max())
    plain = _run(tiny, family, ident, method=method, identity_strength=0.0)[0]
    assert float((generated - plain).abs().mean()) > 1e-3  # the identity is in there
    if extra:  # the shortcut scale reaches the model
        other = _run(tiny, family, ident, method="auto", identity_strength=0.8, **{**extra, "shortcut_scale": 0.0})[0]
        assert float((generated - other).abs().mean()) > 1e-3
        _clear(tiny, "ipadapter")


def test_apply_chains_after_a_controlnet_already_on_the_conditioning(tiny):
    """InstantID's IdentityNet goes after a ControlNet the user applied before (as ComfyUI's apply node
    chains them), on positive and negative alike."""
    _empty(tiny, "instantid")
    _empty(tiny, "controlnet")
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    path = build_diffusers_identitynet(tiny["root"] / "controlnet" / "diffusion_pytorch_model.safetensors")
    import comfy.controlnet

    n = tiny["nodes"]
    model, clip, vae = tiny["models"]["sdxl"]
    user_net = comfy.controlnet.load_controlnet(str(path))
    pos = n.CLIPTextEncode().encode(clip, "a photo")[0]
    neg = n.CLIPTextEncode().encode(clip, "blurry")[0]
    hint = torch.zeros(1, 64, 64, 3)
    pos, neg = n.ControlNetApplyAdvanced().apply_controlnet(pos, neg, user_net, hint, 0.5, 0.0, 1.0)
    before = pos[0][1]["control"]
    apply = n.NODE_CLASS_MAPPINGS["PortraitIdentityApply"]
    _m, pos2, neg2 = run_node(
        apply,
        model=model,
        positive=pos,
        negative=neg,
        identity=tiny["ids"][("antelopev2", "astro")],
        method="InstantID",
        identity_strength=0.8,
        adapter_file="auto",
        controlnet_file="auto",
        controlnet_strength=0.8,
        lora_strength=0.6,
        width=64,
        height=64,
    ).args
    c = pos2[0][1]["control"]
    assert c is neg2[0][1]["control"] and c.previous_controlnet is before and pos[0][1]["control"] is before
    _empty(tiny, "controlnet")


# --- FaceID Plus / PlusV2 -----------------------------------------------------------------------


def test_faceid_plus_without_clip_vision_says_what_to_connect_and_plain_faceid_ignores_it(tiny, tmp_path):
    from portraitos.engine.generation import AdapterError

    astro = tiny["ids"][("buffalo_l", "astro")]
    clip_vision = build_clip_vision(tmp_path)
    _clear(tiny, "ipadapter")
    save_bin(faceid_plus_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid-plusv2_sd15.bin")
    refusal = (
        r"FaceID PlusV2.*CLIP vision.*CLIP-ViT-H-14-laion2B-s32B-b79K\.safetensors.*models/clip_vision.*clip_vision"
    )
    with pytest.raises(AdapterError, match=refusal):  # "auto": the only candidate, skipped with the reason
        _run(tiny, "sd15", astro, method="IP-Adapter FaceID")
    with pytest.raises(AdapterError, match=refusal):  # chosen by name
        _run(tiny, "sd15", astro, method="IP-Adapter FaceID", adapter_file="ip-adapter-faceid-plusv2_sd15.bin")
    with pytest.raises(AdapterError, match=refusal):  # the apply node alike
        _apply_then_ksampler(tiny, "sd15", astro, "IP-Adapter FaceID", False)
    # an adapter for another CLIP vision width than the model connected (as ViT-H's adapter with ViT-L)
    save_bin(
        faceid_plus_state_dict("sd15", clip_width=64), tiny["root"] / "ipadapter" / "ip-adapter-faceid-plus_wide.bin"
    )
    with pytest.raises(AdapterError, match=r"gives 48-wide features.*takes 64-wide.*CLIP-ViT-H-14"):
        _run(
            tiny,
            "sd15",
            astro,
            method="IP-Adapter FaceID",
            adapter_file="ip-adapter-faceid-plus_wide.bin",
            clip_vision=clip_vision,
        )
    _clear(tiny, "ipadapter")
    save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    without = _run(tiny, "sd15", astro, method="IP-Adapter FaceID")[0]
    with_clip = _run(tiny, "sd15", astro, method="IP-Adapter FaceID", clip_vision=clip_vision, shortcut_scale=3.0)[0]
    assert torch.equal(without, with_clip)  # plain FaceID: clip_vision and shortcut_scale are not used
    _clear(tiny, "ipadapter")


def test_a_previous_release_identity_drives_faceid_plus_from_its_stored_face_crop(tiny, tmp_path):
    """Identity files have always stored the aligned 224 px face crop (insightface's norm_crop), which FaceID
    Plus shows the CLIP vision model: an identity written by the previous release works as it is."""
    from portraitos.engine.identity import load_identity
    from portraitos.tests.comfy.test_previous_release import PREVIOUS

    (stored,) = PREVIOUS.glob("*.safetensors")
    old = load_identity(stored)
    assert old.tensors["crop_224"].shape == (1, 224, 224, 3) and old.tensors["crop_224"].dtype == torch.uint8
    _clear(tiny, "ipadapter")
    save_bin(faceid_plus_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid-plus_sd15.bin")
    clip_vision = build_clip_vision(tmp_path)
    images = _run(tiny, "sd15", old, method="IP-Adapter FaceID", clip_vision=clip_vision)[0]
    plain = _run(tiny, "sd15", old, method="IP-Adapter FaceID", identity_strength=0.0)[0]
    assert bool(torch.isfinite(images).all()) and float((images - plain).abs().mean()) > 1e-3
    # Plus (v1, no shortcut) does not take the shortcut scale
    again = _run(tiny, "sd15", old, method="IP-Adapter FaceID", clip_vision=clip_vision, shortcut_scale=0.0)[0]
    assert torch.equal(images, again)
    _clear(tiny, "ipadapter")


def test_faceid_plus_shows_clip_vision_the_best_face_of_an_identity_with_several(tiny, tmp_path):
    from portraitos.engine.identity.file_format import merge
    from portraitos.services import identity_adapters as ia

    two = merge(tiny["ids"][("buffalo_l", "astro")], tiny["ids"][("buffalo_l", "other")])
    assert two.tensors["crop_224"].shape[0] == 2
    _clear(tiny, "ipadapter")
    save_bin(faceid_plus_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid-plusv2_sd15.bin")
    model = tiny["models"]["sd15"][0]
    patch = ia.apply_identity(model, two, "IP-Adapter FaceID", 0.8, clip_vision=build_clip_vision(tmp_path))
    assert patch.reference is not None and patch.reference.startswith("CLIP vision face: ")
    assert patch.adapter is not None and patch.adapter.layout.kind == "faceid-plusv2"
    _clear(tiny, "ipadapter")
