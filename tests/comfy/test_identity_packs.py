"""The identity beside the packs artists already use (cubiq's IPAdapter / InstantID): attention patches that
compose in either order, one FaceID LoRA, the files used said, the controls those packs offer, memory.

Another pack is played by ``tests/support/other_packs.py``: a stand-in written to the protocol cubiq's
packs use (their keys, their ``add``), whose contribution is known exactly."""

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
    tiny,
)
from portraitos.tests.support.comfy_host import run_node
from portraitos.tests.support.other_packs import OtherPack, other_pack_term
from portraitos.tests.support.tiny_diffusion_models import faceid_state_dict, save_bin

FACEID_FILE = {"sd15": "ip-adapter-faceid_sd15.bin", "sdxl": "ip-adapter-faceid_sdxl.bin"}


def _faceid(tiny, family, lora=True):
    _clear(tiny, "ipadapter")
    return save_bin(faceid_state_dict(family, lora=lora), tiny["root"] / "ipadapter" / FACEID_FILE[family])


def _apply(tiny, model, family, **kw):
    """PortraitIdentityApply on ``model`` with the tiny prompt's conditioning: (model, positive, negative, out)."""
    n = tiny["nodes"]
    clip = tiny["models"][family][1]
    p = build_prompts("studio headshot", 1, 7)[0]
    pos = n.CLIPTextEncode().encode(clip, p.positive)[0]
    neg = n.CLIPTextEncode().encode(clip, p.negative)[0]
    inputs = {
        "identity": tiny["ids"][("buffalo_l", "astro")],
        "method": "IP-Adapter FaceID",
        "identity_strength": 1.0,
        "adapter_file": "auto",
        "controlnet_file": "auto",
        "controlnet_strength": 0.8,
        "lora_strength": 0.0,
        "width": 64,
        "height": 64,
        **kw,
    }
    out = run_node(n.NODE_CLASS_MAPPINGS["PortraitIdentityApply"], model=model, positive=pos, negative=neg, **inputs)
    return (*out.args, out)


def _sample(tiny, family, model, pos=None, neg=None):
    n = tiny["nodes"]
    _m, clip, vae = tiny["models"][family]
    if pos is None:
        p = build_prompts("studio headshot", 1, 7)[0]
        pos = n.CLIPTextEncode().encode(clip, p.positive)[0]
        neg = n.CLIPTextEncode().encode(clip, p.negative)[0]
    latent = n.EmptyLatentImage().generate(64, 64, 1)[0]
    out = n.KSampler().sample(model, 7, STEPS[family], FAST["cfg"], "euler", "normal", pos, neg, latent)[0]
    return n.VAEDecode().decode(vae, out)[0]


def _called_patch(model, block: str, index: int, t: int):
    """The attn2 replacement ComfyUI's BasicTransformerBlock calls for that transformer block: the
    three-part key first, then the two-part one (comfy/ldm/modules/attention.py)."""
    attn2 = model.model_options["transformer_options"]["patches_replace"]["attn2"]
    return attn2.get((block, index, t), attn2.get((block, index)))


def _added(model) -> dict:
    attn2 = model.model_options["transformer_options"]["patches_replace"]["attn2"]
    return {k: len(getattr(p, "added", [])) for k, p in attn2.items()}


# --- 1. patches that compose in either order ------------------------------------------------------


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_our_patch_and_another_packs_compose_exactly_in_either_order(tiny, family):
    """At one cross-attention layer, what ComfyUI calls equals text attention + our identity term + the other
    pack's term, whichever apply node came first; the other pack's add never reaches the upstream model."""
    import comfy.ldm.modules.attention as attention

    from portraitos.services.identity_adapters import IdentityAttention

    _faceid(tiny, family)
    model = tiny["models"][family][0]
    ours = _apply(tiny, model, family)[0]
    before = _added(ours)
    ours_then_theirs = OtherPack().apply(ours, family)
    theirs = OtherPack().apply(model, family)
    theirs_then_ours = _apply(tiny, theirs, family)[0]
    assert _added(ours) == before  # the later add went to the clone's copy only
    # the first layer (layer number 1 in both packs' order), as ComfyUI looks it up
    block, index = ("input", 1) if family == "sd15" else ("input", 4)
    g = torch.Generator().manual_seed(0)
    heads = 2
    width = 32
    q, k, v = (torch.randn(2, 16, width, generator=g) for _ in range(3))
    extra = {
        "n_heads": heads,
        "cond_or_uncond": [1, 0],
        "block": (block, index),
        "block_index": 0,
        "transformer_index": 0,
        "sigmas": torch.tensor([5.0, 5.0]),
        "original_shape": [2, 4, 8, 8],
    }
    mine = _called_patch(ours, block, index, 0)
    assert isinstance(mine, IdentityAttention)
    text = attention.optimized_attention(q, k, v, heads)
    want = text + mine.identity_term(q, extra) + other_pack_term(q, extra, "1", 1.0)
    for chained in (ours_then_theirs, theirs_then_ours):
        got = _called_patch(chained, block, index, 0)(q, k, v, dict(extra))
        assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_both_packs_change_the_sampled_image_whichever_comes_first(tiny, family):
    """Sampled through KSampler: ours → theirs and theirs → ours give the same image, unlike either alone,
    and the other pack's term ran on every layer it patched where ComfyUI calls (not its middle-block key)."""
    _faceid(tiny, family)
    model = tiny["models"][family][0]
    alone_ours = _sample(tiny, family, _apply(tiny, model, family)[0])
    pack = OtherPack(weight=2.0)
    alone_theirs = _sample(tiny, family, pack.apply(model, family))
    layers = 15 if family == "sd15" else 60  # every layer but the middle block's
    assert sorted(set(pack.calls)) == [2 * n + 1 for n in range(layers)]
    first = OtherPack(weight=2.0)
    a = _sample(tiny, family, first.apply(_apply(tiny, model, family)[0], family))
    assert sorted(set(first.calls)) == [2 * n + 1 for n in range(layers)]
    second = OtherPack(weight=2.0)
    b = _sample(tiny, family, _apply(tiny, second.apply(model, family), family)[0])
    assert sorted(set(second.calls)) == [2 * n + 1 for n in range(layers)]
    order = float((a - b).abs().mean())  # the same sum, added in another order: float rounding only
    assert float((a - b).abs().max()) < 2e-3, float((a - b).abs().max())
    assert float((a - alone_ours).abs().mean()) > 100 * order and float((a - alone_theirs).abs().mean()) > 100 * order
