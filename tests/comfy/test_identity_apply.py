"""PortraitIdentityApply: the identity on the user's own MODEL and CONDITIONING, sampled by ComfyUI's stock
KSampler, gives PortraitGenerate's image for the same seed (both apply it with the same code)."""

# ruff: noqa: F811  (the imported fixture is taken as a test argument)
from __future__ import annotations

import pytest
import torch

from portraitos.engine.generation import build_prompts
from portraitos.tests.comfy.test_portrait_generate import (  # noqa: F401  (the module's tiny-model fixture)
    FAST,
    STEPS,
    _clear,
    _empty,
    _run,
    tiny,
)
from portraitos.tests.support.comfy_host import run_node
from portraitos.tests.support.tiny_diffusion_models import (
    build_diffusers_identitynet,
    faceid_state_dict,
    instantid_state_dict,
    save_bin,
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


@pytest.mark.parametrize("method", ["IP-Adapter FaceID", "InstantID"])
def test_stock_ksampler_on_the_apply_nodes_outputs_gives_portrait_generates_image(tiny, method):
    if method == "InstantID":
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
    stock, (pos, neg) = _apply_then_ksampler(tiny, family, ident, "auto", method == "InstantID")
    if method == "InstantID":
        assert all("control" in d and d["cross_attn_controlnet"].shape[1] == 16 for _, d in pos + neg)
    generated = _run(tiny, family, ident, method="auto", identity_strength=0.8)[0]
    assert torch.allclose(stock, generated, atol=1e-4), float((stock - generated).abs().max())
    plain = _run(tiny, family, ident, method=method, identity_strength=0.0)[0]
    assert float((generated - plain).abs().mean()) > 1e-3  # the identity is in there


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
