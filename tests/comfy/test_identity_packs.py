"""The identity beside the packs artists already use (cubiq's IPAdapter / InstantID): attention patches that
compose in either order, one FaceID LoRA, the files used said, the controls those packs offer, memory.

Another pack is played by ``testing/other_packs.py``: a stand-in written to the protocol cubiq's
packs use (their keys, their ``add``), whose contribution is known exactly."""

# ruff: noqa: F811  (the imported fixture is taken as a test argument)
from __future__ import annotations

import pytest
import torch

from portraitos.engine.generation import AdapterError, build_prompts
from portraitos.testing.comfy_host import run_node
from portraitos.testing.other_packs import OtherPack, other_pack_term
from portraitos.testing.tiny_diffusion_models import (
    build_controlnet,
    faceid_lora_state_dict,
    faceid_state_dict,
    instantid_state_dict,
    save_bin,
)
from portraitos.tests.comfy.test_portrait_generate import (  # noqa: F401  (the module's tiny-model fixture)
    FAST,
    STEPS,
    _clear,
    _empty,
    tiny,
)

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


# --- 2. one FaceID LoRA ---------------------------------------------------------------------------


def test_a_faceid_lora_already_in_the_model_is_not_applied_twice(tiny):
    """cubiq's documented path loads FaceID's separate LoRA with a LoraLoader: found in the MODEL by its keys
    and ranks, ours is then skipped and the node says so; without it ours is applied; a LoRA of another rank
    (a style LoRA on the same layers) is not taken for it."""
    from safetensors.torch import save_file

    _faceid(tiny, "sd15")  # the published .bin: its LoRA inside
    _clear(tiny, "loras")
    model = tiny["models"]["sd15"][0]
    loader = tiny["nodes"].LoraLoaderModelOnly()
    save_file(faceid_lora_state_dict(model), str(tiny["root"] / "loras" / "faceid_sd15_lora.safetensors"))
    migrated = loader.load_lora_model_only(model, "faceid_sd15_lora.safetensors", 0.6)[0]
    assert len(migrated.patches) == 128
    patched, _pos, _neg, out = _apply(tiny, migrated, "sd15", lora_strength=0.6)
    assert {k: len(v) for k, v in patched.patches.items()} == {k: len(v) for k, v in migrated.patches.items()}
    (warning,) = [w for w in out.ui["portraitos"][0]["warnings"] if "already in the model" in w]
    assert "strength 0.6" in warning and "LoraLoader" in warning and "not applied again" in warning
    assert not any(line.startswith("LoRA:") for line in out.ui["portraitos"][0]["values"]["used"])
    fresh, _pos, _neg, out = _apply(tiny, model, "sd15", lora_strength=0.6)
    assert len(fresh.patches) == 128 and all(len(v) == 1 for v in fresh.patches.values())  # ours, once
    assert "LoRA: inside ip-adapter-faceid_sd15.bin at 0.6" in out.ui["portraitos"][0]["values"]["used"]
    save_file(faceid_lora_state_dict(model, rank=8), str(tiny["root"] / "loras" / "style.safetensors"))
    styled = loader.load_lora_model_only(model, "style.safetensors", 1.0)[0]
    both = _apply(tiny, styled, "sd15", lora_strength=0.6)[0]
    assert all(len(v) == 2 for v in both.patches.values())  # the style LoRA and FaceID's
    _clear(tiny, "loras")


# --- 3. the files used ----------------------------------------------------------------------------


def test_identitynet_under_a1111s_name_is_found_and_the_files_used_are_said(tiny):
    _empty(tiny, "instantid")
    _empty(tiny, "controlnet")
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    build_controlnet(tiny["root"] / "controlnet" / "control_instant_id_sdxl.safetensors")
    model = tiny["models"]["sdxl"][0]
    ident = tiny["ids"][("antelopev2", "astro")]
    _m, pos, _neg, out = _apply(tiny, model, "sdxl", identity=ident, method="InstantID")
    used = out.ui["portraitos"][0]["values"]["used"]
    assert used[0].startswith("adapter: ip-adapter.bin (InstantID for SDXL")
    assert used[1] == "IdentityNet: control_instant_id_sdxl.safetensors"
    assert "IdentityNet: control_instant_id_sdxl.safetensors" in out.ui["text"][0]
    assert pos[0][1]["control"] is not None
    _empty(tiny, "controlnet")


def test_a_controlnet_that_is_not_identitynet_is_refused_with_the_reason(tiny):
    """A reduced SDXL ControlNet (one transformer block a level, as the 'small' / 'mid' ones) under the
    published name has a 3-channel hint and the right text width, yet is not IdentityNet: auto rules it out
    and a direct choice is refused, each saying why."""
    import comfy.cldm.cldm
    from safetensors.torch import save_file

    from portraitos.testing.tiny_diffusion_models import SDXL_UNET

    _empty(tiny, "instantid")
    _empty(tiny, "controlnet")
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    config = {k: v for k, v in SDXL_UNET.items() if k not in ("out_channels", "transformer_depth_output")}
    config.update(transformer_depth=[0, 0, 1, 1, 1, 1], transformer_depth_middle=1)
    net = comfy.cldm.cldm.ControlNet(hint_channels=3, num_head_channels=16, **config)
    sd = {k: torch.zeros(v.shape, dtype=torch.float16) for k, v in net.state_dict().items()}
    save_file(sd, str(tiny["root"] / "controlnet" / "diffusion_pytorch_model.safetensors"))
    ident = tiny["ids"][("antelopev2", "astro")]
    model = tiny["models"]["sdxl"][0]
    why = r"5 transformer blocks.*encoder and middle block have 34"
    with pytest.raises(AdapterError, match=r"no usable IdentityNet.*diffusion_pytorch_model\.safetensors: .*" + why):
        _apply(tiny, model, "sdxl", identity=ident, method="InstantID")
    with pytest.raises(AdapterError, match=r"is not InstantID's IdentityNet: .*" + why):
        _apply(
            tiny,
            model,
            "sdxl",
            identity=ident,
            method="InstantID",
            controlnet_file="diffusion_pytorch_model.safetensors",
        )
    _empty(tiny, "controlnet")


# --- 4. the controls ------------------------------------------------------------------------------


def test_start_end_mask_and_weight_types_gate_the_identity_as_cubiqs(tiny):
    """start/end percent through ComfyUI's percent_to_sigma (cubiq's gate): a window past the last step, or an
    all-black attention mask, leaves exactly the image without the adapter; half the window or half the
    mask changes it; weight types follow cubiq's per-layer formulas."""
    from portraitos.services.identity_adapters import AttentionControls

    _faceid(tiny, "sd15", lora=False)
    model = tiny["models"]["sd15"][0]
    none = _sample(tiny, "sd15", _apply(tiny, model, "sd15", identity_strength=0.0)[0])
    full = _sample(tiny, "sd15", _apply(tiny, model, "sd15")[0])
    assert float((full - none).abs().mean()) > 1e-3
    never = _sample(tiny, "sd15", _apply(tiny, model, "sd15", start_at=1.0, end_at=1.0)[0])
    assert torch.allclose(never, none, atol=1e-5)
    late = _sample(tiny, "sd15", _apply(tiny, model, "sd15", start_at=0.5)[0])
    assert float((late - none).abs().mean()) > 1e-4 and float((late - full).abs().mean()) > 1e-4
    black = torch.zeros(1, 64, 64)
    masked_off = _sample(tiny, "sd15", _apply(tiny, model, "sd15", attn_mask=black)[0])
    assert torch.allclose(masked_off, none, atol=1e-5)
    half = black.clone()
    half[:, :, 32:] = 1.0
    masked = _sample(tiny, "sd15", _apply(tiny, model, "sd15", attn_mask=half)[0])
    assert float((masked - none).abs().mean()) > 1e-4 and float((masked - full).abs().mean()) > 1e-4
    c = AttentionControls(weight_type="ease in", layers=16)
    assert c.weight(1.0, {"transformer_index": 0}) == pytest.approx(1.0)
    assert c.weight(1.0, {"transformer_index": 8}) == pytest.approx(0.05 + 0.95 * 0.5)
    assert AttentionControls(weight_type="weak input").weight(1.0, {"block": ("input", 1)}) == pytest.approx(0.2)
    assert AttentionControls(weight_type="weak input").weight(1.0, {"block": ("output", 3)}) == 1.0
    eased = _sample(tiny, "sd15", _apply(tiny, model, "sd15", weight_type="ease out")[0])
    assert float((eased - full).abs().mean()) > 1e-4


def test_weights_beyond_one_and_a_half_or_negative_and_embeds_scaling(tiny):
    n = tiny["nodes"]
    spec = n.NODE_CLASS_MAPPINGS["PortraitIdentityApply"].INPUT_TYPES()["required"]["identity_strength"][1]
    assert (spec["min"], spec["max"]) == (-1.0, 5.0)  # cubiq's IPAdapter range
    _faceid(tiny, "sd15", lora=False)
    model = tiny["models"]["sd15"][0]
    images = {w: _sample(tiny, "sd15", _apply(tiny, model, "sd15", identity_strength=w)[0]) for w in (-1.0, 1.0, 3.0)}
    assert all(bool(torch.isfinite(im).all()) for im in images.values())
    assert float((images[-1.0] - images[1.0]).abs().mean()) > 1e-3
    assert float((images[3.0] - images[1.0]).abs().mean()) > 1e-3
    half = _sample(tiny, "sd15", _apply(tiny, model, "sd15", identity_strength=0.5)[0])
    kv = _sample(tiny, "sd15", _apply(tiny, model, "sd15", identity_strength=0.5, embeds_scaling="K+V")[0])
    assert float((kv - half).abs().mean()) > 1e-4  # at weight 1 the two are the same; at 0.5 K+V scales keys too


def test_negative_embed_noise_and_several_photo_combining_match_cubiqs_formulas(tiny):
    from portraitos.engine.identity.file_format import merge
    from portraitos.services import identity_adapters as ia

    two = merge(tiny["ids"][("antelopev2", "astro")], tiny["ids"][("antelopev2", "other")])
    raw = two.tensors["embeddings_raw"].float()
    avg = ia.identity_embedding(two, "InstantID", "average")
    assert torch.allclose(avg, raw.mean(0, keepdim=True))
    norm = ia.identity_embedding(two, "InstantID", "norm average")
    assert torch.allclose(norm, torch.mean(raw / torch.norm(raw, dim=0, keepdim=True), dim=0).unsqueeze(0))
    assert ia.identity_embedding(two, "InstantID", "concat").shape == (2, 512)
    with torch.random.fork_rng():  # cubiq's Apply InstantID: global seed from the embedding's sum, then rand_like
        torch.manual_seed(int(torch.sum(avg).item()) % 1000000007)
        cubiq = 0.35 * torch.rand_like(avg)
    assert torch.equal(ia.negative_embedding(avg, 0.35), cubiq)
    assert ia.negative_embedding(avg, 0.0) is None
    _empty(tiny, "instantid")
    path = save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    adapter = ia.load_adapter(path)
    cond, uncond = ia.identity_tokens(adapter, ia.identity_embedding(two, "InstantID", "concat"))
    assert cond.shape == (1, 32, 96) and uncond.shape == (1, 32, 96)  # 16 tokens a photo, side by side
    noisy = ia.identity_tokens(adapter, avg, uncond_embedding=ia.negative_embedding(avg, 0.35))[1]
    assert float((noisy - ia.identity_tokens(adapter, avg)[1]).abs().mean()) > 1e-4


def test_image_kps_poses_identitynet_and_the_latent_sets_the_keypoint_picture(tiny):
    """InstantID's keypoints from another picture's face (drawn at that picture's size, as cubiq's), and
    without it the keypoint picture drawn at the connected latent's size instead of the width / height
    widgets (ComfyUI would centre-crop an 832×1216 picture onto a square latent)."""
    import folder_paths
    import numpy as np

    from portraitos.engine.generation import draw_keypoints
    from portraitos.tests.comfy.test_portrait_generate import ASTRONAUT

    _empty(tiny, "instantid")
    _empty(tiny, "controlnet")
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    build_controlnet(tiny["root"] / "controlnet" / "instantid.safetensors")
    model = tiny["models"]["sdxl"][0]
    ident = tiny["ids"][("antelopev2", "astro")]
    latent = tiny["nodes"].EmptyLatentImage().generate(64, 96, 1)[0]
    kw = {"identity": ident, "method": "InstantID", "width": 832, "height": 1216}
    pos = _apply(tiny, model, "sdxl", latent=latent, **kw)[1]
    assert tuple(pos[0][1]["control"].cond_hint_original.shape) == (1, 3, 96, 64)
    pos = _apply(tiny, model, "sdxl", **kw)[1]
    assert tuple(pos[0][1]["control"].cond_hint_original.shape) == (1, 3, 1216, 832)
    saved = folder_paths.folder_names_and_paths["insightface"]
    folder_paths.folder_names_and_paths["insightface"] = ([str(tiny["faces"])], saved[1])
    try:
        shifted = np.ascontiguousarray(np.roll(ASTRONAUT, 40, axis=1))
        picture = torch.from_numpy(shifted).float()[None] / 255
        pos, _neg, out = _apply(tiny, model, "sdxl", image_kps=picture, **kw)[1:]
    finally:
        folder_paths.folder_names_and_paths["insightface"] = saved
    hint = pos[0][1]["control"].cond_hint_original
    assert tuple(hint.shape) == (1, 3, 512, 512)
    from portraitos.engine.faces import analyse, load_pack

    kps = torch.from_numpy(analyse(load_pack(tiny["faces"], "antelopev2", "CPU"), shifted)[0]["kps"])
    assert torch.equal(hint, draw_keypoints(kps, 512, 512)[None].movedim(-1, 1))
    assert "IdentityNet keypoints: from image_kps (512×512)" in out.ui["portraitos"][0]["values"]["used"]
    _empty(tiny, "controlnet")


def test_faceid_portrait_with_several_photos_concatenates_their_tokens(tiny):
    from portraitos.engine.identity.file_format import merge

    _clear(tiny, "ipadapter")
    path = tiny["root"] / "ipadapter" / "ip-adapter-faceid-portrait_sd15.bin"
    save_bin(faceid_state_dict("sd15", lora=False, tokens=16), path)
    two = merge(tiny["ids"][("buffalo_l", "astro")], tiny["ids"][("buffalo_l", "other")])
    model = tiny["models"]["sd15"][0]
    patched, _p, _n, out = _apply(tiny, model, "sd15", identity=two, combine_embeds="concat")
    attn2 = patched.model_options["transformer_options"]["patches_replace"]["attn2"]
    assert next(iter(attn2.values())).cond.shape == (1, 32, 32)  # 16 tokens a face, two faces
    assert out.ui["portraitos"][0]["values"]["used"][0].startswith("adapter: ip-adapter-faceid-portrait_sd15.bin")
    image = _sample(tiny, "sd15", patched)
    assert bool(torch.isfinite(image).all())
    _clear(tiny, "ipadapter")


# --- 5. memory ------------------------------------------------------------------------------------


def _storages(*groups) -> int:
    """Bytes of the distinct tensor storages in ``groups`` (iterables of tensors)."""
    seen: dict[int, int] = {}
    for group in groups:
        for t in group:
            s = t.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
    return sum(seen.values())


def test_one_copy_of_adapter_weights_and_the_cache_released_by_comfys_model_management(tiny):
    import comfy.model_management as mm

    from portraitos.services import identity_adapters as ia
    from portraitos.services.model_cache import CACHE

    _empty(tiny, "instantid")
    sd = instantid_state_dict()
    path = save_bin(sd, tiny["root"] / "instantid" / "ip-adapter.bin")
    CACHE.clear(ia.CACHE_KIND)
    adapter = ia.load_adapter(path)
    file_ip = sum(v.numel() * v.element_size() for v in sd["ip_adapter"].values())
    file_proj = sum(v.numel() * v.element_size() for v in sd["image_proj"].values())
    held = _storages(adapter.layers.parameters(), adapter.ip_sd.values(), adapter.projection.parameters())
    assert held == file_ip + file_proj  # the attention layers' weights once, the projection once
    # bounded: a third adapter file pushes the oldest out
    for i in range(2):
        save_bin(faceid_state_dict("sdxl", seed=i), tiny["root"] / "instantid" / f"other{i}.bin")
        ia.load_adapter(tiny["root"] / "instantid" / f"other{i}.bin")
    assert len(CACHE.keys(ia.CACHE_KIND)) == ia.KEEP_ADAPTERS and str(path) not in CACHE.keys(ia.CACHE_KIND)
    _empty(tiny, "instantid")
    # released when ComfyUI unloads it
    _faceid(tiny, "sd15", lora=False)
    model = tiny["models"]["sd15"][0]
    _sample(tiny, "sd15", _apply(tiny, model, "sd15")[0])
    faceid = str(tiny["root"] / "ipadapter" / FACEID_FILE["sd15"])
    assert faceid in CACHE.keys(ia.CACHE_KIND)
    mm.unload_all_models()
    assert faceid not in CACHE.keys(ia.CACHE_KIND)


# --- 6. smaller -----------------------------------------------------------------------------------


def test_adapter_layers_compute_in_the_unets_cast_dtype_on_fp8_weights(tiny):
    """A UNet stored in fp8 computes in ComfyUI's manual-cast dtype: the adapter's layers follow it."""
    import comfy.sd
    import folder_paths

    from portraitos.services import identity_adapters as ia

    path = folder_paths.get_full_path("checkpoints", "tiny_sd15.safetensors")
    fp8 = comfy.sd.load_checkpoint_guess_config(path, model_options={"dtype": torch.float8_e4m3fn})[0]
    assert fp8.model.get_dtype() == torch.float8_e4m3fn and fp8.model.manual_cast_dtype is not None
    _faceid(tiny, "sd15", lora=False)
    patch = ia.apply_identity(fp8, tiny["ids"][("buffalo_l", "astro")], "IP-Adapter FaceID", 1.0, lora_strength=0.0)
    assert ia.compute_dtype(fp8) == fp8.model.manual_cast_dtype
    assert {p.dtype for p in patch.adapter.layers.parameters()} == {fp8.model.manual_cast_dtype}
    assert bool(torch.isfinite(_sample(tiny, "sd15", patch.model)).all())
